"""Monitoring assets: prediction payloads captured in data/incoming/."""

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from ...core.files import write_json
from ...core.payloads import PAYLOAD_COLUMNS, ReadLimits, collect_payloads
from ...core.registry import serving_baseline
from ...metadata import file_metadata
from ...ml.drift import drift_report
from ...resources import GatePolicyResource, YtsSettings

GROUP = "monitoring"


@asset(
    group_name=GROUP,
    deps=["model_registry"],
    kinds={"json", "pandas"},
    code_version="2",
    description="Prediction inputs captured in data/incoming/*.jsonl, validated line by line. Malformed lines go "
                "to data/incoming/rejected/<batch>.rejected.jsonl with their reason; never dropped silently. "
                "Each batch's drift against the serving run's published training_baseline goes to "
                "artifacts/reports/drift_report.json.",
)
def production_payloads(context: AssetExecutionContext, settings: YtsSettings,
                        gate_policy: GatePolicyResource) -> MaterializeResult:
    paths = settings.paths()
    collected = collect_payloads(paths.incoming_dir, paths.production_payloads, ReadLimits.from_env())
    for name, why in collected.skipped.items():
        context.log.warning(f"{name} is skipped: {why}")
    for scan in collected.scans:
        if scan.rejected:
            first = scan.first_rejections[0]
            context.log.warning(f"{scan.name}: {scan.rejected} malformed lines, first: line {first['line']}: {first['reason']}")
    serving = serving_baseline(paths)
    if serving.problem:
        context.log.error(f"drift not measured: {serving.problem}")
    drift = ({scan.name: drift_report(scan.sample, serving.baseline, gate_policy.policy().drift)["summary"]
              for scan in collected.scans if scan.sample} if serving.baseline else None)
    run_id = serving.run_id if serving.baseline else None
    write_json(paths.drift_report, {"baseline_run_id": run_id, "batches": drift})
    preview = [record for scan in collected.scans for record in scan.sample[:5]][:5]
    return MaterializeResult(metadata={
        **file_metadata(paths.production_payloads, collected.digest),
        "drift_report": MetadataValue.path(str(paths.drift_report)),
        "baseline_run_id": MetadataValue.text(run_id or "no usable active run"),
        "dagster/row_count": MetadataValue.int(sum(scan.accepted for scan in collected.scans)),
        "preview": MetadataValue.md(pd.DataFrame(preview, columns=list(PAYLOAD_COLUMNS)).to_markdown(index=False)),
        "batches": MetadataValue.int(len(collected.scans)),
        "rejected_lines": MetadataValue.int(sum(scan.rejected for scan in collected.scans)),
        "rejected_files": MetadataValue.json([str(p) for p in collected.rejected_files]),
        "unreadable_files": MetadataValue.json(collected.skipped),
    })
