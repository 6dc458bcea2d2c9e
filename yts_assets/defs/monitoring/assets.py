"""Monitoring assets: prediction payloads captured in data/incoming/, one daily partition per UTC day."""

import pandas as pd
from dagster import AssetExecutionContext, DailyPartitionsDefinition, MaterializeResult, MetadataValue, asset

from ...core.payloads import PARTITIONS_START, PAYLOAD_COLUMNS, ReadLimits
from ...core.registry import serving_baseline
from ...metadata import file_metadata
from ...ml.incoming import measure_day
from ...resources import GatePolicyResource, YtsSettings

GROUP = "monitoring"
# Today's partition exists (end_offset=1): batches are measured the day they arrive, and again as the day fills.
PAYLOAD_PARTITIONS = DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1, timezone="UTC")


@asset(
    group_name=GROUP,
    deps=["model_registry"],
    kinds={"json", "pandas"},
    code_version="3",
    partitions_def=PAYLOAD_PARTITIONS,
    description="Prediction inputs captured in data/incoming/*.jsonl, one partition per UTC day (the date stamped in "
                "the batch's name, else its mtime's), validated line by line. Accepted records go to "
                "artifacts/reports/production_payloads/<day>.csv; malformed lines to "
                "data/incoming/rejected/<batch>.rejected.jsonl with their reason, never dropped silently. Drift of "
                "each batch and of the whole day against the serving run's published training_baseline, as "
                "aggregated statistics over every record, goes to artifacts/reports/drift/<day>.json.",
)
def production_payloads(context: AssetExecutionContext, settings: YtsSettings,
                        gate_policy: GatePolicyResource) -> MaterializeResult:
    paths = settings.paths()
    serving = serving_baseline(paths)
    if serving.problem:
        context.log.error(f"drift not measured: {serving.problem}")
    measured = measure_day(paths, context.partition_key, serving.baseline, serving.run_id,
                           gate_policy.policy().drift, ReadLimits.from_env())
    collected = measured.collected
    for name, why in collected.skipped.items():
        context.log.warning(f"{name} is skipped: {why}")
    for scan in collected.scans:
        if scan.rejected:
            first = scan.first_rejections[0]
            context.log.warning(f"{scan.name}: {scan.rejected} malformed lines, first: line {first['line']}: {first['reason']}")
    preview = [record for scan in collected.scans for record in scan.preview][:5]
    return MaterializeResult(metadata={
        **file_metadata(measured.records_csv, collected.digest),
        "drift_report": MetadataValue.path(str(measured.report_path)),
        "baseline_run_id": MetadataValue.text(measured.report["baseline_run_id"] or "no usable active run"),
        "dagster/row_count": MetadataValue.int(measured.report["accepted_records"]),
        "preview": MetadataValue.md(pd.DataFrame(preview, columns=list(PAYLOAD_COLUMNS)).to_markdown(index=False)),
        "batches": MetadataValue.int(len(collected.scans)),
        "rejected_lines": MetadataValue.int(measured.report["rejected_lines"]),
        "rejected_files": MetadataValue.json([str(p) for p in collected.rejected_files]),
        "unreadable_files": MetadataValue.json(collected.skipped),
    })
