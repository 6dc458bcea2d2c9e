"""The drift sensor: new payload batches -> drift_job; a drifted batch -> training_job, once."""

import json
import os

from dagster import (
    AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus, RunRequest, SensorEvaluationContext,
    SensorResult, SkipReason, sensor,
)

from .jobs import drift_job, training_job
from .ml.drift import DriftSettings
from .ml.files import read_json
from .ml.incoming import scan_incoming
from .resources import YtsSettings

SENSOR_INTERVAL_SECONDS = int(os.environ.get("YTS_DRIFT_SENSOR_INTERVAL", "30"))
RETRAIN_HIGH_SEVERITY_SHARE = float(os.environ.get("YTS_RETRAIN_HIGH_SEVERITY_SHARE", "0.10"))


@sensor(
    jobs=[drift_job, training_job],
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Watches data/incoming/*.jsonl. Each new batch requests drift_job; a batch that is a drift risk "
                "(PSI over threshold, or a high-severity share over YTS_RETRAIN_HIGH_SEVERITY_SHARE) also requests "
                "training_job, keyed by the batch's content so it retrains once. Unreadable files are reported and "
                "retried; malformed lines end up in data/incoming/rejected/.",
)
def incoming_drift_sensor(context: SensorEvaluationContext, settings: YtsSettings) -> SensorResult:
    paths = settings.paths()
    seen = json.loads(context.cursor)["seen"] if context.cursor else {}
    baseline = read_json(paths.training_baseline) if paths.training_baseline.is_file() else None
    scan = scan_incoming(paths.incoming_dir, seen, baseline,
                         DriftSettings(max_high_severity_share=RETRAIN_HIGH_SEVERITY_SHARE))
    for problem in scan.problems:
        context.log.warning(problem)
    requests = []
    for decision in scan.decisions:
        tags = {"yts/batch": decision.name, "yts/batch_sha256": decision.content_sha256[:16]}
        requests.append(RunRequest(run_key=f"drift:{decision.name}:{decision.content_sha256[:16]}",
                                   job_name=drift_job.name, tags={**tags, "yts/trigger": "new_batch"}))
        if decision.retrain:
            summary = decision.summary or {}
            requests.append(RunRequest(
                run_key=f"retrain:{decision.content_sha256}",
                job_name=training_job.name,
                tags={**tags, "yts/trigger": "drift",
                      "yts/drifted_features": ",".join(summary.get("drifted_features", [])) or "none",
                      "yts/high_severity_share": str(summary.get("high_severity_share"))},
            ))
    cursor = json.dumps({"seen": scan.seen}, sort_keys=True)
    if not requests:
        reason = "; ".join(scan.problems) or "no new payload batches"
        if baseline is None:
            reason += " (no training_baseline yet: drift cannot be measured)"
        return SensorResult(skip_reason=SkipReason(reason), cursor=cursor)
    return SensorResult(run_requests=requests, cursor=cursor)


automation_sensor = AutomationConditionSensorDefinition(
    "yts_automation_sensor",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    description="Declarative automation: training assets rematerialize eagerly when an upstream asset changes "
                "and every blocking check on their dependencies passed.",
)
