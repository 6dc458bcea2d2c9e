"""Monitoring assets: prediction payloads captured in data/incoming/."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from ...core.files import write_csv, write_json
from ...core.payloads import batch_files, payload_frame, read_batch, write_rejected
from ...core.registry import active_baseline
from ...metadata import file_metadata, table_metadata
from ...ml.drift import batch_drift_summaries
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
    batches, unreadable = [], {}
    for path in batch_files(paths.incoming_dir):
        try:
            batches.append(read_batch(path))
        except OSError as exc:
            unreadable[path.name] = f"{type(exc).__name__}: {exc}"
            context.log.warning(f"{path.name} cannot be read and is skipped: {exc}")
    rejected_files = [str(p) for p in (write_rejected(paths.incoming_dir, b) for b in batches) if p]
    for batch in batches:
        if batch.rejected:
            context.log.warning(f"{batch.path.name}: {len(batch.rejected)} malformed lines, "
                                f"first: line {batch.rejected[0]['line']}: {batch.rejected[0]['reason']}")
    frame = payload_frame(batches)
    digest = write_csv(paths.production_payloads, frame)
    active = active_baseline(paths)
    drift = batch_drift_summaries(frame, active[1], gate_policy.policy().drift) if active else None
    write_json(paths.drift_report, {"baseline_run_id": active[0] if active else None, "batches": drift})
    return MaterializeResult(metadata={
        **file_metadata(paths.production_payloads, digest),
        "drift_report": MetadataValue.path(str(paths.drift_report)),
        "baseline_run_id": MetadataValue.text(active[0] if active else "no active run"),
        **table_metadata(frame),
        "batches": MetadataValue.int(len(batches)),
        "rejected_lines": MetadataValue.int(sum(len(b.rejected) for b in batches)),
        "rejected_files": MetadataValue.json(rejected_files),
        "unreadable_files": MetadataValue.json(unreadable),
    })
