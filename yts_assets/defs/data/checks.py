"""Data-quality checks on raw_youtube_stats and processed_channels.

Blocking checks (ERROR) are the ones that would make training meaningless.
"""

from collections.abc import Iterator

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSpec, multi_asset_check

from ...core.registry import serving_baseline
from ...lineage import input_paths
from ...metadata import check_result
from ...ml import quality
from ...ml.dataset import YOUTUBE_FOUNDED_YEAR, read_processed
from ...ml.policy import QualityLimits
from ...ml.source import recorded_raw_profile
from ...resources import GatePolicyResource, YtsSettings

DEFAULTS = QualityLimits()


@multi_asset_check(specs=[
    AssetCheckSpec("raw_schema_matches", asset="raw_youtube_stats", blocking=True,
                   description="The raw CSV has exactly the dataset's 28 columns, by name. Blocking, ERROR."),
    AssetCheckSpec("row_count_in_bounds", asset="raw_youtube_stats", blocking=True,
                   description=f"Row count within {DEFAULTS.min_rows}..{DEFAULTS.max_rows} (gate_policy.quality). Blocking, ERROR."),
    AssetCheckSpec("no_duplicate_channels", asset="raw_youtube_stats", blocking=True,
                   description="No channel (Youtuber, case-insensitive) appears twice. Blocking, ERROR."),
])
def raw_data_checks(context: AssetCheckExecutionContext, settings: YtsSettings,
                    gate_policy: GatePolicyResource) -> Iterator[AssetCheckResult]:
    # what raw_youtube_stats recorded of the bytes it hashed and parsed: the CSV is not read again
    profile = recorded_raw_profile(input_paths(context, settings, "raw_youtube_stats"))
    limits = gate_policy.policy().quality
    yield check_result(context, "raw_schema_matches", quality.raw_schema(profile["columns"]))
    yield check_result(context, "row_count_in_bounds", quality.row_count(profile["rows"], limits))
    yield check_result(context, "no_duplicate_channels",
                       quality.duplicate_channels(quality.ChannelDuplicates(**profile["channel_duplicates"])))


@multi_asset_check(specs=[
    AssetCheckSpec("null_rates_within_limits", asset="processed_channels", blocking=True,
                   description="Each column's null rate within its limit: 0% for name, subscribers, uploads and "
                               "earnings; 50% for growth labels; 25% by default. Blocking, ERROR."),
    AssetCheckSpec("non_negative_values", asset="processed_channels", blocking=True,
                   description="Counts, views, earnings and populations are never negative. Blocking, ERROR."),
    AssetCheckSpec("created_year_in_range", asset="processed_channels", blocking=False,
                   description=f"created_year within {YOUTUBE_FOUNDED_YEAR}..reference year. WARN, not blocking: the "
                               "real data has one channel 'created' in 1970 (a placeholder date); such rows keep their "
                               "labels and get no age, so training stays meaningful."),
    AssetCheckSpec("vocabulary_known", asset="processed_channels", blocking=False,
                   description="Categories and countries belong to the 2023 vocabulary (at most 5% unknown). WARN: "
                               "the models treat unseen values as missing."),
    AssetCheckSpec("enough_known_labels", asset="processed_channels", blocking=True,
                   description=f"Every target has at least {DEFAULTS.min_known_labels} rows with a known label "
                               "(gate_policy.quality). Blocking, ERROR."),
    AssetCheckSpec("values_plausible", asset="processed_channels", blocking=True,
                   description="Every value within a bound no real channel can pass: uploads within the API's "
                               "10,000,000 (a model must not learn from inputs it refuses), subscribers within the "
                               "world's population, views and earnings far above 2023's maxima. Blocking, ERROR: "
                               "with no champion yet, this alone stops corrupt data."),
    AssetCheckSpec("training_data_drift", asset="processed_channels", blocking=True,
                   description="PSI of the training inputs against the serving run's published baseline. WARN when "
                               "a feature drifts (gate_policy.drift.psi_threshold); ERROR, blocking, past "
                               "gate_policy.drift.max_training_psi (default 1.0)."),
])
def processed_data_checks(context: AssetCheckExecutionContext, settings: YtsSettings,
                          gate_policy: GatePolicyResource) -> Iterator[AssetCheckResult]:
    paths = settings.paths()
    processed = read_processed(input_paths(context, settings, "processed_channels").processed_csv)
    limits = gate_policy.policy().quality
    yield check_result(context, "null_rates_within_limits", quality.null_rates(processed, limits))
    yield check_result(context, "non_negative_values", quality.non_negative(processed))
    yield check_result(context, "created_year_in_range", quality.created_year_range(processed, settings.reference_year))
    yield check_result(context, "vocabulary_known", quality.vocabulary(processed, limits))
    yield check_result(context, "enough_known_labels", quality.known_labels(processed, limits))
    yield check_result(context, "values_plausible", quality.plausible_values(processed))
    yield check_result(context, "training_data_drift",
                       quality.training_drift(processed, serving_baseline(paths), gate_policy.policy().drift))
