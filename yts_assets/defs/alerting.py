"""Alerts from Dagster: a run-failure sensor for training runs, and a sensor over blocking check evaluations.

Both record alerts in the outbox (`core/alerts.py`), write them to the run's event log, and flush the
outbox to YTS_ALERT_WEBHOOK_URL. A run stopped by blocking checks gets one gate alert naming every
failed check; a training run that fails for any other reason (an exception, a crash the daemon's run
monitoring marks failed) gets one run-failed alert. Repeated drift is raised by the drift sensor.
"""

from __future__ import annotations

import json

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    ResourceParam,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SkipReason,
    definitions,
    run_failure_sensor,
    sensor,
)

from ..core import config
from ..core.alerts import Alert, AlertOutbox, Webhook, gate_alert, raise_and_flush, run_failed_alert
from ..core.registry import load_registry
from ..resources import YtsSettings
from .automation import training_job
from .registry.gate import BlockingChecks, blocks, failed_blocking_checks

HISTORY_PER_CHECK = 50


def report_to_run(instance: DagsterInstance, run_id: str, alert: Alert) -> None:
    """The alert in the run's own event log, where the UI shows it."""
    run = instance.get_run_by_id(run_id)
    if run is not None:
        instance.report_engine_event(f"ALERT {alert.kind}: {alert.text}", run)


@run_failure_sensor(
    name="training_failure_alerts",
    monitored_jobs=[training_job],
    default_status=DefaultSensorStatus.RUNNING,
    description="Alerts when a training run fails for a reason other than its blocking checks (those get the gate "
                "alert): an error, or a crash that run monitoring marks failed. Outbox, run log and webhook.",
)
def training_failure_alerts(context: RunFailureSensorContext, settings: YtsSettings) -> None:
    run = context.dagster_run
    if failed_blocking_checks(context.instance, run.run_id):
        context.log.info(f"run {run.run_id} was stopped by blocking checks: the gate alert covers it")
        raise_and_flush(settings.paths(), [], context.log.info)
        return
    reason = context.failure_event.message or "the run failed"
    alert = run_failed_alert(run.run_id, run.job_name, reason)
    for new in raise_and_flush(settings.paths(), [alert], context.log.error):
        report_to_run(context.instance, run.run_id, new)


def failed_evaluations_after(instance: DagsterInstance, keys: list[AssetCheckKey], after: int) -> dict[str, int]:
    """{run id: highest record id} of blocking check evaluations that failed with ERROR after record `after`."""
    runs: dict[str, int] = {}
    for key in keys:
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=HISTORY_PER_CHECK)
        for record in history:
            evaluation = record.evaluation  # None, or a planned one, until the check has run
            if record.id > after and isinstance(evaluation, AssetCheckEvaluation) and blocks(evaluation):
                runs[record.run_id] = max(runs.get(record.run_id, 0), record.id)
    return runs


def build_check_alert_sensor(interval_seconds: int):  # noqa: ANN201 - a SensorDefinition
    @sensor(
        name="blocking_check_alerts",
        minimum_interval_seconds=interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description="Watches blocking check evaluations. When a run in which blocking checks failed has finished, "
                    "raises one gate alert naming each failed check and why (the run was rejected; the active run "
                    "stays). Also delivers alerts left pending while the webhook was down.",
    )
    def blocking_check_alerts(context: SensorEvaluationContext, settings: YtsSettings,
                              blocking_checks: ResourceParam[BlockingChecks]) -> SkipReason:
        paths = settings.paths()
        after = json.loads(context.cursor)["after"] if context.cursor else 0
        failed = failed_evaluations_after(context.instance, sorted(blocking_checks.keys, key=lambda k: k.to_user_string()),
                                          after)
        finished = {run_id: last for run_id, last in failed.items()
                    if (run := context.instance.get_run_by_id(run_id)) is None or run.is_finished}
        waiting = [last for run_id, last in failed.items() if run_id not in finished]
        alerts = []
        if finished:
            active = load_registry(paths)["active_run_id"]
            alerts = [gate_alert(run_id, failed_blocking_checks(context.instance, run_id), active) for run_id in finished]
        new = raise_and_flush(paths, alerts, context.log.error)
        for alert in new:
            report_to_run(context.instance, alert.details["run_id"], alert)
        done = max(finished.values(), default=after)
        context.update_cursor(json.dumps({"after": min([done, *(w - 1 for w in waiting)]) if waiting else done}))
        pending = len(AlertOutbox(paths).pending()) if Webhook.from_env() else 0
        return SkipReason(f"{len(new)} new gate alerts; {len(waiting)} runs still running; {pending} alerts pending")

    return blocking_check_alerts


@definitions
def alerting() -> Definitions:
    return Definitions(sensors=[training_failure_alerts,
                                build_check_alert_sensor(config.DRIFT_SENSOR_INTERVAL.get())])
