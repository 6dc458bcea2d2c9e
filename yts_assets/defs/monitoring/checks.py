"""Drift of captured prediction payloads against the training baseline, per day partition."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from ...core.files import read_json
from ...ml.incoming import judge_day, partition_outputs
from ...resources import YtsSettings
from .assets import PAYLOAD_PARTITIONS


@asset_check(asset="production_payloads", blocking=False, partitions_def=PAYLOAD_PARTITIONS,
             description="PSI per feature and per-record z-scores/frequencies against the serving run's published "
                         "training_baseline, for each batch of the day and the whole day (gate_policy.drift), from "
                         "the day's aggregated statistics. WARN on medium drift, ERROR on high (is_drift_risk).")
def payload_drift(context: AssetCheckExecutionContext, settings: YtsSettings) -> AssetCheckResult:
    report_path = partition_outputs(settings.paths(), context.partition_key)[1]
    report = read_json(report_path) if report_path.is_file() else None
    verdict = judge_day(report)
    if report is None or not verdict.measured:
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN, description=verdict.description)
    return AssetCheckResult(
        passed=verdict.worst == "low",
        severity=AssetCheckSeverity.ERROR if verdict.worst == "high" else AssetCheckSeverity.WARN,
        description=verdict.description,
        metadata={
            "worst_severity": verdict.worst,
            "baseline_run_id": str(report.get("baseline_run_id")),
            "drift_report": MetadataValue.path(str(report_path)),
            "batches": MetadataValue.md(verdict.table),
        },
    )
