"""Data-quality checks on raw_youtube_stats and processed_channels."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from ..assets.data import processed_channels, raw_youtube_stats
from ..ml import quality
from ..ml.dataset import YOUTUBE_FOUNDED_YEAR, read_processed
from ..ml.source import load_recorded_source
from ..resources import YtsSettings
from .common import gate, warn

THRESHOLDS = quality.QualityThresholds()


def _raw(settings: YtsSettings):  # noqa: ANN202
    return load_recorded_source(settings.paths())[0].frame


def _processed(settings: YtsSettings):  # noqa: ANN202
    return read_processed(settings.paths().processed_csv)


@asset_check(asset=raw_youtube_stats, blocking=True,
             description="The raw CSV has exactly the dataset's 28 columns, by name. Blocking, ERROR.")
def raw_schema_matches(context: AssetCheckExecutionContext, settings: YtsSettings) -> AssetCheckResult:
    return gate(context, settings, quality.raw_schema(_raw(settings)))


@asset_check(asset=raw_youtube_stats, blocking=True,
             description=f"Row count within {THRESHOLDS.min_rows}..{THRESHOLDS.max_rows}. Blocking, ERROR.")
def row_count_in_bounds(context: AssetCheckExecutionContext, settings: YtsSettings) -> AssetCheckResult:
    return gate(context, settings, quality.row_count(_raw(settings), THRESHOLDS))


@asset_check(asset=raw_youtube_stats, blocking=True,
             description="No channel (Youtuber, case-insensitive) appears twice. Blocking, ERROR.")
def no_duplicate_channels(context: AssetCheckExecutionContext, settings: YtsSettings) -> AssetCheckResult:
    return gate(context, settings, quality.duplicate_channels(_raw(settings)))


@asset_check(asset=processed_channels, blocking=True,
             description="Each column's null rate within its limit: 0% for name, subscribers, uploads and earnings; "
                         "50% for growth labels; 25% by default. Blocking, ERROR.")
def null_rates_within_limits(context: AssetCheckExecutionContext, settings: YtsSettings) -> AssetCheckResult:
    return gate(context, settings, quality.null_rates(_processed(settings), THRESHOLDS))


@asset_check(asset=processed_channels, blocking=True,
             description="Counts, views, earnings and populations are never negative. Blocking, ERROR.")
def non_negative_values(context: AssetCheckExecutionContext, settings: YtsSettings) -> AssetCheckResult:
    return gate(context, settings, quality.non_negative(_processed(settings)))


@asset_check(asset=processed_channels, blocking=False,
             description=f"created_year within {YOUTUBE_FOUNDED_YEAR}..reference year. WARN, not blocking: the real "
                         "data has one channel 'created' in 1970 (a placeholder date); such rows keep their labels "
                         "and get no age, so training stays meaningful.")
def created_year_in_range(settings: YtsSettings) -> AssetCheckResult:
    return warn(quality.created_year_range(_processed(settings), settings.reference_year))


@asset_check(asset=processed_channels, blocking=False,
             description="Categories and countries belong to the 2023 vocabulary (at most 5% unknown). WARN: "
                         "unseen values are treated as missing by the models.")
def vocabulary_known(settings: YtsSettings) -> AssetCheckResult:
    return warn(quality.vocabulary(_processed(settings), THRESHOLDS))


@asset_check(asset=processed_channels, blocking=True,
             description=f"Every target has at least {THRESHOLDS.min_known_labels} rows with a known label. Blocking, ERROR.")
def enough_known_labels(context: AssetCheckExecutionContext, settings: YtsSettings) -> AssetCheckResult:
    return gate(context, settings, quality.known_labels(_processed(settings), THRESHOLDS))


DATA_CHECKS = [raw_schema_matches, row_count_in_bounds, no_duplicate_channels, null_rates_within_limits,
               non_negative_values, created_year_in_range, vocabulary_known, enough_known_labels]
