"""Drift of captured prediction payloads against the training baseline."""

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from ...core.files import read_json
from ...ml.drift import SEVERITIES
from ...resources import YtsSettings


@asset_check(asset="production_payloads", blocking=False,
             description="PSI per feature and per-record z-scores/frequencies against the serving run's published "
                         "training_baseline, for each batch (gate_policy.drift). WARN on medium drift, ERROR on high "
                         "(is_drift_risk).")
def payload_drift(settings: YtsSettings) -> AssetCheckResult:
    paths = settings.paths()
    report = read_json(paths.drift_report) if paths.drift_report.is_file() else {"batches": None}
    batches = report["batches"]
    if batches is None:
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN,
                                description="no active run to compare against: run training_job first")
    worst = max((s["batch_severity"] for s in batches.values()), key=SEVERITIES.index, default="low")
    drifting = [name for name, s in batches.items() if s["is_drift_risk"]]
    return AssetCheckResult(
        passed=worst == "low",
        severity=AssetCheckSeverity.ERROR if worst == "high" else AssetCheckSeverity.WARN,
        description=(f"{len(batches)} batches, worst drift severity {worst}"
                     + (f"; drift risk in {', '.join(drifting)}" if drifting else "")),
        metadata={
            "worst_severity": worst,
            "baseline_run_id": str(report.get("baseline_run_id")),
            "drift_report": MetadataValue.path(str(paths.drift_report)),
            "batches": MetadataValue.md("| batch | records | severity | high | drifted features | max PSI |\n"
                                        "| --- | ---: | --- | ---: | --- | ---: |\n" + "\n".join(
                f"| {n} | {s['total']} | {s['batch_severity']} | {s['high_severity_count']} | "
                f"{', '.join(s['drifted_features']) or '-'} | {max(s['psi'].values(), default=0):.3f} |"
                for n, s in batches.items())),
        },
    )
