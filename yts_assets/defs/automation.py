"""Automation in one place: the jobs, the drift sensor, declarative automation and the retraining schedule.

Built when the code location loads (`@definitions`), so YTS_DRIFT_SENSOR_INTERVAL and YTS_RETRAIN_CRON
are read then, never at import.
"""

import json

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    ScheduleDefinition,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    definitions,
    sensor,
)

from ..core import config
from ..core.alerts import raise_and_flush, repeated_drift_alert
from ..core.payloads import ReadLimits
from ..core.registry import serving_baseline
from ..ml.incoming import scan_incoming
from ..resources import GatePolicyResource, YtsSettings
from .registry.gate import record_blocked_run

TRAINING_GROUPS = ("data", "models", "analytics", "registry")
MONITORING_GROUPS = ("monitoring",)

training_job = define_asset_job(
    "training_job",
    selection=AssetSelection.groups(*TRAINING_GROUPS),
    hooks={record_blocked_run},
    description="The whole training graph with its checks: data, models, manifest and the registry gate. "
                "A run stopped by a blocking check is recorded as rejected.",
)
drift_job = define_asset_job(
    "drift_job",
    selection=AssetSelection.groups(*MONITORING_GROUPS),
    description="Reads data/incoming/ into production_payloads and runs its drift check against the serving run's "
                "published training_baseline.",
)


def build_drift_sensor(interval_seconds: int) -> SensorDefinition:
    @sensor(
        name="incoming_drift_sensor",
        jobs=[drift_job, training_job],
        minimum_interval_seconds=interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description="Watches data/incoming/*.jsonl. Each new batch requests drift_job; a batch that is a drift risk "
                    "(PSI over threshold, or a high-severity share over gate_policy.drift.max_high_severity_share) "
                    "also requests training_job, keyed by the batch's content so it retrains once. Unreadable files "
                    "are reported and retried; malformed lines end up in data/incoming/rejected/. YTS_DRIFT_ALERT_BATCHES "
                    "consecutive drift-risk batches raise one repeated-drift alert.",
    )
    def incoming_drift_sensor(context: SensorEvaluationContext, settings: YtsSettings,
                              gate_policy: GatePolicyResource) -> SensorResult:
        paths = settings.paths()
        state = json.loads(context.cursor) if context.cursor else {}
        seen, streak = state.get("seen", {}), state.get("drift_streak", [])
        serving = serving_baseline(paths)
        if serving.problem:
            context.log.error(f"drift cannot be measured: {serving.problem}")
        baseline = serving.baseline
        scan = scan_incoming(paths.incoming_dir, seen, baseline, gate_policy.policy().drift, ReadLimits.from_env())
        for problem in scan.problems:
            context.log.warning(problem)
        requests, alerts = [], []
        needed = config.DRIFT_ALERT_BATCHES.get()
        for decision in scan.decisions:
            if decision.summary is not None:  # measured: a drift risk extends the streak, a calm batch ends it
                streak = [*streak, f"{decision.name}:{decision.content_sha256[:16]}"] if decision.retrain else []
                if len(streak) == needed:
                    alerts.append(repeated_drift_alert(streak, decision.summary))
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
        raise_and_flush(paths, alerts, context.log.error)
        cursor = json.dumps({"seen": scan.seen, "drift_streak": streak[-needed:]}, sort_keys=True)
        if not requests:
            reason = "; ".join(scan.problems) or "no new payload batches"
            if baseline is None:
                reason += " (no active run yet: drift cannot be measured)"
            return SensorResult(skip_reason=SkipReason(reason), cursor=cursor)
        return SensorResult(run_requests=requests, cursor=cursor)

    return incoming_drift_sensor


def build_retraining_schedule(cron: str) -> ScheduleDefinition:
    return ScheduleDefinition(
        name="retraining_schedule",
        job=training_job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
        tags={"yts/trigger": "schedule"},
        description=f"Retrains on the cron '{cron}' (UTC); set {config.RETRAIN_CRON.name} to change it.",
    )


@definitions
def automation() -> Definitions:
    interval = config.DRIFT_SENSOR_INTERVAL.get()
    automation_sensor = AutomationConditionSensorDefinition(
        "yts_automation_sensor",
        target=AssetSelection.all(),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=interval,
        description="Declarative automation: training assets rematerialize eagerly when an upstream asset changes "
                    "and every blocking check on their dependencies passed.",
    )
    return Definitions(
        jobs=[training_job, drift_job],
        sensors=[build_drift_sensor(interval), automation_sensor],
        schedules=[build_retraining_schedule(config.RETRAIN_CRON.get())],
    )
