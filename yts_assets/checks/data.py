"""Data-quality checks on raw_youtube_stats and processed_channels.

Blocking checks (ERROR) are the ones that would make training meaningless.
"""

from collections.abc import Iterator

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSpec, multi_asset_check

from ..assets.data import processed_channels, raw_youtube_stats
from ..ml import quality
from ..ml.dataset import YOUTUBE_FOUNDED_YEAR, read_processed
from ..ml.source import load_recorded_source
from ..resources import YtsSettings
from .common import evaluate

THRESHOLDS = quality.QualityThresholds()


@multi_asset_check(specs=[
    AssetCheckSpec("raw_schema_matches", asset=raw_youtube_stats, blocking=True,
                   description="The raw CSV has exactly the dataset's 28 columns, by name. Blocking, ERROR."),
    AssetCheckSpec("row_count_in_bounds", asset=raw_youtube_stats, blocking=True,
                   description=f"Row count within {THRESHOLDS.min_rows}..{THRESHOLDS.max_rows}. Blocking, ERROR."),
    AssetCheckSpec("no_duplicate_channels", asset=raw_youtube_stats, blocking=True,
                   description="No channel (Youtuber, case-insensitive) appears twice. Blocking, ERROR."),
])
def raw_data_checks(context: AssetCheckExecutionContext, settings: YtsSettings) -> Iterator[AssetCheckResult]:
    raw = load_recorded_source(settings.paths())[0].frame
    yield evaluate(context, settings, "raw_schema_matches", quality.raw_schema(raw))
    yield evaluate(context, settings, "row_count_in_bounds", quality.row_count(raw, THRESHOLDS))
    yield evaluate(context, settings, "no_duplicate_channels", quality.duplicate_channels(raw))


@multi_asset_check(specs=[
    AssetCheckSpec("null_rates_within_limits", asset=processed_channels, blocking=True,
                   description="Each column's null rate within its limit: 0% for name, subscribers, uploads and "
                               "earnings; 50% for growth labels; 25% by default. Blocking, ERROR."),
    AssetCheckSpec("non_negative_values", asset=processed_channels, blocking=True,
                   description="Counts, views, earnings and populations are never negative. Blocking, ERROR."),
    AssetCheckSpec("created_year_in_range", asset=processed_channels, blocking=False,
                   description=f"created_year within {YOUTUBE_FOUNDED_YEAR}..reference year. WARN, not blocking: the "
                               "real data has one channel 'created' in 1970 (a placeholder date); such rows keep their "
                               "labels and get no age, so training stays meaningful."),
    AssetCheckSpec("vocabulary_known", asset=processed_channels, blocking=False,
                   description="Categories and countries belong to the 2023 vocabulary (at most 5% unknown). WARN: "
                               "the models treat unseen values as missing."),
    AssetCheckSpec("enough_known_labels", asset=processed_channels, blocking=True,
                   description=f"Every target has at least {THRESHOLDS.min_known_labels} rows with a known label. "
                               "Blocking, ERROR."),
])
def processed_data_checks(context: AssetCheckExecutionContext, settings: YtsSettings) -> Iterator[AssetCheckResult]:
    processed = read_processed(settings.paths().processed_csv)
    yield evaluate(context, settings, "null_rates_within_limits", quality.null_rates(processed, THRESHOLDS))
    yield evaluate(context, settings, "non_negative_values", quality.non_negative(processed))
    yield evaluate(context, settings, "created_year_in_range", quality.created_year_range(processed, settings.reference_year))
    yield evaluate(context, settings, "vocabulary_known", quality.vocabulary(processed, THRESHOLDS))
    yield evaluate(context, settings, "enough_known_labels", quality.known_labels(processed, THRESHOLDS))


DATA_CHECKS = [raw_data_checks, processed_data_checks]
