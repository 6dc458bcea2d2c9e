"""Data assets: the raw CSV, the processed table, features, quality report and drift baseline."""


from dagster import (
    AssetExecutionContext,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    ObserveResult,
    asset,
    observable_source_asset,
)

from ...core.files import sha256_file, write_csv, write_json
from ...lineage import input_paths, output_paths
from ...metadata import file_metadata, table_metadata
from ...ml.dataset import (
    process,
    read_processed,
    record_parsed_frame,
    record_transformations,
    recorded_transformations,
)
from ...ml.features import MODEL_INPUTS, TARGETS
from ...ml.features import feature_snapshot as build_feature_snapshot
from ...ml.reports import BASELINE_COLUMNS
from ...ml.reports import data_quality_report as build_quality_report
from ...ml.reports import training_baseline as build_training_baseline
from ...ml.source import (
    data_version,
    load_recorded_source,
    read_source,
    record_raw_profile,
    record_source,
    recorded_raw_profile,
    recorded_source,
)
from ...resources import YtsSettings
from ..conditions import AFTER_UPSTREAM_PASSES

GROUP = "data"
# What ml/features.py's feature_snapshot reads of the processed table: only these columns are loaded.
SNAPSHOT_SOURCE_COLUMNS = ("youtuber", *MODEL_INPUTS, *dict.fromkeys(TARGETS.values()))


SOURCE = "youtube_stats_csv"


@observable_source_asset(
    name=SOURCE,
    group_name="sources",
    description="The dataset file as Dagster observes it: its data version is the sha256 of the bytes a run would "
                "read now (the newest CSV in data/inbox/, else YTS_DATA_PATH, else data/Global YouTube "
                "Statistics.csv, else the demo). new_data_sensor observes it on every tick; a new version makes "
                "everything downstream stale until training_job has run on it.",
)
def youtube_stats_csv(context: AssetExecutionContext, settings: YtsSettings) -> ObserveResult:
    sha256, what = data_version(settings.paths(), settings.data_source)
    return ObserveResult(data_version=DataVersion(sha256), metadata={"source": MetadataValue.text(what)})


@asset(
    group_name=GROUP,
    deps=[SOURCE],
    kinds={"csv", "pandas"},
    code_version="1",
    description=(
        "The Global YouTube Statistics 2023 CSV (latin-1, 995 rows, 28 columns), read from the newest CSV in "
        "data/inbox/, YTS_DATA_PATH or data/Global YouTube Statistics.csv; a generated demo dataset when none exists."
    ),
)
def raw_youtube_stats(context: AssetExecutionContext, settings: YtsSettings) -> MaterializeResult:
    paths = output_paths(context, settings)
    raw, kind = read_source(paths, settings.data_source)
    source = record_source(paths, raw, kind)
    record_raw_profile(paths, raw)  # what raw_data_checks and data_quality_report use: they do not read the CSV
    context.log.info(f"data source: {kind} ({raw.path})")
    return MaterializeResult(
        metadata={
            "source": MetadataValue.text(kind),
            **file_metadata(raw.path, raw.sha256),
            "encoding": MetadataValue.text(raw.encoding),
            "dagster/column_count": MetadataValue.int(source.columns),
            **table_metadata(raw.frame),
        },
        data_version=DataVersion(raw.sha256),
    )


@asset(
    group_name=GROUP,
    automation_condition=AFTER_UPSTREAM_PASSES,
    deps=["raw_youtube_stats"],
    kinds={"csv", "pandas"},
    code_version="1",
    description=(
        "The cleaned table: snake_case columns, numeric coercion, `age` against the reference year "
        "and `growth_target` with missing labels kept missing. data/global_youtube_statistics_processed.csv"
    ),
)
def processed_channels(context: AssetExecutionContext, settings: YtsSettings) -> MaterializeResult:
    paths = output_paths(context, settings)
    raw, _ = load_recorded_source(input_paths(context, settings, "raw_youtube_stats"))  # re-read, hash verified
    processed = process(raw.frame, settings.reference_year)
    del raw
    digest = write_csv(paths.processed_csv, processed.frame)
    transformations, table = processed.transformations, table_metadata(processed.frame)
    del processed  # gone before the CSV is parsed again below
    record_transformations(paths.processed_csv, digest, transformations)  # for data_quality_report
    record_parsed_frame(paths.processed_csv, digest)  # its readers load this instead of parsing the CSV again
    for step in transformations:
        context.log.info(step)
    return MaterializeResult(
        metadata={**file_metadata(paths.processed_csv, digest), **table,
                  "reference_year": MetadataValue.int(settings.reference_year),
                  "transformations": MetadataValue.md("\n".join(f"- {s}" for s in transformations))},
        data_version=DataVersion(digest[:16]),
    )


@asset(
    group_name=GROUP,
    automation_condition=AFTER_UPSTREAM_PASSES,
    deps=["processed_channels"],
    kinds={"csv", "pandas"},
    code_version="1",
    description="Feature-store snapshot: stable channel_id, model inputs, targets and event_timestamp.",
)
def feature_snapshot(context: AssetExecutionContext, settings: YtsSettings) -> MaterializeResult:
    paths = output_paths(context, settings)
    processed = read_processed(input_paths(context, settings, "processed_channels").processed_csv,
                               SNAPSHOT_SOURCE_COLUMNS)
    snapshot = build_feature_snapshot(processed, settings.snapshot_timestamp)
    digest = write_csv(paths.feature_snapshot, snapshot)
    return MaterializeResult(metadata={**file_metadata(paths.feature_snapshot, digest), **table_metadata(snapshot)},
                             data_version=DataVersion(digest[:16]))


@asset(
    group_name=GROUP,
    automation_condition=AFTER_UPSTREAM_PASSES,
    deps=["raw_youtube_stats", "processed_channels"],
    kinds={"json"},
    code_version="1",
    description="Rows, columns, duplicates and missing % of raw and processed data; numeric summary; cardinalities; transformations.",
)
def data_quality_report(context: AssetExecutionContext, settings: YtsSettings) -> MaterializeResult:
    paths = output_paths(context, settings)
    raw_paths = input_paths(context, settings, "raw_youtube_stats")
    source, raw_profile = recorded_source(raw_paths), recorded_raw_profile(raw_paths)  # recorded, not re-read
    processed_csv = input_paths(context, settings, "processed_channels").processed_csv
    processed_sha256 = sha256_file(processed_csv)
    transformations = recorded_transformations(processed_csv, processed_sha256)
    if transformations is None:  # processed_channels by an earlier version: its transformations, as it applied them
        raw, _ = load_recorded_source(raw_paths)
        transformations = process(raw.frame, settings.reference_year).transformations
    processed = read_processed(processed_csv, sha256=processed_sha256)
    report = build_quality_report(raw_profile, processed, transformations, source.as_dict())
    digest = write_json(paths.data_quality_report, report)
    worst = sorted(report["processed"]["missing_pct"].items(), key=lambda item: -item[1])[:8]
    return MaterializeResult(metadata={
        **file_metadata(paths.data_quality_report, digest),
        "dagster/row_count": MetadataValue.int(report["processed"]["rows"]),
        "duplicate_channels": MetadataValue.int(report["processed"]["duplicate_channels"]),
        "most_missing": MetadataValue.md("| column | missing % |\n| --- | ---: |\n"
                                         + "\n".join(f"| {c} | {v:.1f} |" for c, v in worst)),
    })


@asset(
    group_name=GROUP,
    automation_condition=AFTER_UPSTREAM_PASSES,
    deps=["processed_channels"],
    kinds={"json"},
    code_version="1",
    description="Drift reference: mean, std, p95 and decile bins of numeric inputs; frequencies of categorical inputs.",
)
def training_baseline(context: AssetExecutionContext, settings: YtsSettings) -> MaterializeResult:
    paths = output_paths(context, settings)
    processed_csv = input_paths(context, settings, "processed_channels").processed_csv
    baseline = build_training_baseline(read_processed(processed_csv, BASELINE_COLUMNS))
    digest = write_json(paths.training_baseline, baseline)
    numeric = baseline["numeric"]
    return MaterializeResult(metadata={
        **file_metadata(paths.training_baseline, digest),
        "dagster/row_count": MetadataValue.int(baseline["rows"]),
        "numeric_inputs": MetadataValue.md("| input | mean | std | p95 |\n| --- | ---: | ---: | ---: |\n" + "\n".join(
            f"| {name} | {b['mean']:.1f} | {b['std']:.1f} | {b['p95']:.1f} |" for name, b in numeric.items())),
        "categorical_cardinality": MetadataValue.json(
            {name: len(b["frequencies"]) for name, b in baseline["categorical"].items()}),
    })
