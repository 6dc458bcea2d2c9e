"""Drift of captured prediction payloads against the training baseline."""

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from ..assets.data import training_baseline
from ..assets.monitoring import production_payloads
from ..ml.drift import drift_report
from ..ml.files import read_json, write_json
from ..resources import YtsSettings


@asset_check(asset=production_payloads, additional_deps=[training_baseline], blocking=False,
             description="PSI per feature and per-record z-scores/frequencies against training_baseline, for each "
                         "batch. WARN on medium drift, ERROR on high (is_drift_risk).")
def payload_drift(settings: YtsSettings) -> AssetCheckResult:
    paths = settings.paths()
    if not paths.training_baseline.is_file():
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN,
                                description=f"no training baseline at {paths.training_baseline}: run training_job first")
    baseline = read_json(paths.training_baseline)
    payloads = pd.read_csv(paths.production_payloads, dtype={"category": str, "country": str})
    batches = {name: drift_report(group.to_dict("records"), baseline)["summary"]
               for name, group in payloads.groupby("batch", sort=True)}
    write_json(paths.drift_report, {"batches": batches})
    order = ["low", "medium", "high"]
    worst = max((s["batch_severity"] for s in batches.values()), key=order.index, default="low")
    drifting = [name for name, s in batches.items() if s["is_drift_risk"]]
    return AssetCheckResult(
        passed=worst == "low",
        severity=AssetCheckSeverity.ERROR if worst == "high" else AssetCheckSeverity.WARN,
        description=(f"{len(batches)} batches, worst drift severity {worst}"
                     + (f"; drift risk in {', '.join(drifting)}" if drifting else "")),
        metadata={
            "worst_severity": worst,
            "drift_report": MetadataValue.path(str(paths.drift_report)),
            "batches": MetadataValue.md("| batch | records | severity | high | drifted features | max PSI |\n"
                                        "| --- | ---: | --- | ---: | --- | ---: |\n" + "\n".join(
                f"| {n} | {s['total']} | {s['batch_severity']} | {s['high_severity_count']} | "
                f"{', '.join(s['drifted_features']) or '-'} | {max(s['psi'].values(), default=0):.3f} |"
                for n, s in batches.items())),
        },
    )
