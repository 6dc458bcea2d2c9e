"""Data-quality checks on the raw and processed tables."""

from dagster import AssetCheckResult, asset_check

from ..assets.data import raw_youtube_stats
from ..ml import quality
from ..ml.source import load_recorded_source
from ..resources import YtsSettings
from .common import to_result


@asset_check(asset=raw_youtube_stats, blocking=True,
             description="The raw CSV has exactly the dataset's 28 columns, by name. Blocking, ERROR.")
def raw_schema_matches(settings: YtsSettings) -> AssetCheckResult:
    raw, _ = load_recorded_source(settings.paths())
    return to_result(quality.raw_schema(raw.frame))
