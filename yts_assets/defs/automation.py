"""Automation in one place: the jobs, the new-data and drift sensors, declarative automation and the schedule.

Built when the code location loads (`@definitions`), so YTS_DRIFT_SENSOR_INTERVAL and YTS_RETRAIN_CRON
are read then, never at import.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from dagster import (
    AssetObservation,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    MetadataValue,
    RunRequest,
    RunsFilter,
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
from ..core.alerts import Alert, raise_and_flush, repeated_drift_alert, retraining_required_alert
from ..core.paths import ProjectPaths
from ..core.payloads import ReadLimits
from ..core.registry import active_run, flag_retraining_required, load_registry, serving_baseline
from ..ml.dataset import DatasetError
from ..ml.incoming import BatchDecision, in_partitions, scan_incoming
from ..ml.source import data_version
from ..resources import GatePolicyResource, YtsSettings
from .data.assets import SOURCE
from .monitoring.assets import PAYLOAD_PARTITIONS
from .registry.gate import record_blocked_run

DATA_VERSION_TAG = "dagster/data_version"

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
    description="Reads one UTC day of data/incoming/ into that day's partition of production_payloads and runs its "
                "drift check against the serving run's published training_baseline.",
)


def build_drift_sensor(interval_seconds: int) -> SensorDefinition:
    @sensor(
        name="incoming_drift_sensor",
        jobs=[drift_job, training_job],
        minimum_interval_seconds=interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description="Watches data/incoming/*.jsonl. New batches request drift_job for their UTC day's partition of "
                    "production_payloads (one run per day per tick); a batch that is a drift risk "
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
        last_day = PAYLOAD_PARTITIONS.get_last_partition_key()
        scan = scan_incoming(paths.incoming_dir, seen, baseline, gate_policy.policy().drift, ReadLimits.from_env(),
                             last_day=last_day)
        for problem in scan.problems:
            context.log.warning(problem)
        requests, alerts = [], []
        needed = config.DRIFT_ALERT_BATCHES.get()
        response = DriftResponse(paths, settings, gate_policy.policy().retrain_on_drift, lambda: context.instance)
        for decision in scan.decisions:
            if decision.summary is not None:  # measured: a drift risk extends the streak, a calm batch ends it
                streak = [*streak, f"{decision.name}:{decision.content_sha256[:16]}"] if decision.retrain else []
                if len(streak) == needed:
                    alerts.append(repeated_drift_alert(streak, decision.summary))
            if decision.retrain:
                summary = decision.summary or {}
                decided = response.decide(decision.name, summary)
                context.log.warning(f"{decision.name} is a drift risk: {decided.why}")
                alerts += decided.alerts
                if decided.train:
                    requests.append(RunRequest(
                        run_key=f"retrain:{decision.content_sha256}",
                        job_name=training_job.name,
                        tags={**batch_tags([decision]), **decided.tags, "yts/trigger": "drift",
                              "yts/drifted_features": ",".join(summary.get("drifted_features", [])) or "none",
                              "yts/high_severity_share": str(summary.get("high_severity_share"))},
                    ))
        drift_requests = []
        for day, decisions in days_of(scan.decisions).items():
            if not in_partitions(day, last_day):
                context.log.warning(f"{', '.join(d.name for d in decisions)}: dated {day}, before production_payloads' "
                                    f"first day {PAYLOAD_PARTITIONS.get_first_partition_key()}: drift measured here, "
                                    "no drift_job run")
                continue
            drift_requests.append(RunRequest(run_key=f"drift:{day}:{batches_digest(decisions)}",
                                             job_name=drift_job.name, partition_key=day,
                                             tags={**batch_tags(decisions), "yts/trigger": "new_batch"}))
        requests = drift_requests + requests
        raise_and_flush(paths, alerts, context.log.error)
        cursor = json.dumps({"seen": scan.seen, "drift_streak": streak[-needed:]}, sort_keys=True)
        if not requests:
            reason = "; ".join(scan.problems) or "no new payload batches"
            if baseline is None:
                reason += " (no active run yet: drift cannot be measured)"
            return SensorResult(skip_reason=SkipReason(reason), cursor=cursor)
        return SensorResult(run_requests=requests, cursor=cursor)

    return incoming_drift_sensor


def days_of(decisions: list[BatchDecision]) -> dict[str, list[BatchDecision]]:
    """The new batches by the UTC day (partition) they belong to, in order."""
    days: dict[str, list[BatchDecision]] = {}
    for decision in decisions:
        days.setdefault(decision.day, []).append(decision)
    return days


def batches_digest(decisions: list[BatchDecision]) -> str:
    """Names and contents of the batches: a run key that repeats only for the very same batches."""
    return hashlib.sha256(" ".join(f"{d.name}:{d.content_sha256}" for d in decisions).encode()).hexdigest()[:16]


def batch_tags(decisions: list[BatchDecision]) -> dict[str, str]:
    """The batches a run is for: their names (the first three), how many, and a short digest of their contents."""
    names = [d.name for d in decisions]
    shown = ",".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
    digest = decisions[0].content_sha256[:16] if len(decisions) == 1 else batches_digest(decisions)
    return {"yts/batch": shown, "yts/batches": str(len(names)), "yts/batch_sha256": digest}


@dataclass(frozen=True)
class DriftDecision:
    train: bool
    why: str
    tags: dict[str, str] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)


class DriftResponse:
    """The gate policy's `retrain_on_drift` for one sensor tick: train only when it can change something."""

    def __init__(self, paths: ProjectPaths, settings: YtsSettings, mode: str,
                 instance: Callable[[], DagsterInstance]) -> None:
        self.paths, self.settings, self.mode, self.instance = paths, settings, mode, instance  # the instance when needed

    @cached_property
    def versions(self) -> tuple[str | None, str | None]:
        """(the data version a run would read now, the active run's)."""
        active = active_run(load_registry(self.paths))
        try:
            current = data_version(self.paths, self.settings.data_source)[0]
        except DatasetError:
            current = None
        return current, active.get("data_sha256") if active else None

    def decide(self, batch: str, summary: dict[str, Any]) -> DriftDecision:
        current, trained_on = self.versions
        tags = {"yts/data_sha256": current or "unknown", "yts/active_data_sha256": trained_on or "none"}
        if self.mode == "always":
            return DriftDecision(True, "retrain_on_drift=always: training requested", tags)
        if self.mode == "if_new_data" and current and current != trained_on:
            if training_requested_for(self.instance(), current):
                return DriftDecision(False, f"data version {current[:12]} is already being trained on")
            return DriftDecision(True, f"new data (version {current[:12]}, the active run's is {str(trained_on)[:12]}): "
                                       "training requested", tags)
        why = (f"payload batch {batch} is a drift risk (high-severity share {summary.get('high_severity_share')}, "
               f"drifted: {', '.join(summary.get('drifted_features', [])) or 'none'}); retrain_on_drift={self.mode}")
        registry, new = flag_retraining_required(self.paths, batch, why, actor="dagster")
        state = registry["retraining_required"]
        alerts = [retraining_required_alert(state)] if new else []
        return DriftDecision(False, f"no training: {state['reason']}", alerts=alerts)


def training_requested_for(instance: DagsterInstance, version: str) -> bool:
    """Whether a training run for this data version exists already (any sensor, any status)."""
    return bool(instance.get_run_records(RunsFilter(job_name=training_job.name, tags={"yts/data_sha256": version}),
                                         limit=1))


def build_new_data_sensor(interval_seconds: int) -> SensorDefinition:
    @sensor(
        name="new_data_sensor",
        jobs=[training_job],
        minimum_interval_seconds=interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description="Observes youtube_stats_csv (the sha256 of the dataset a run would read: the newest CSV in "
                    "data/inbox/, YTS_DATA_PATH or the default path). A data version that no active run was trained on "
                    "and no training run was requested for requests training_job once, tagged with the versions. An "
                    "unchanged file never triggers a run.",
    )
    def new_data_sensor(context: SensorEvaluationContext, settings: YtsSettings) -> SensorResult:
        paths = settings.paths()
        try:
            current, what = data_version(paths, settings.data_source)
        except DatasetError as exc:
            return SensorResult(skip_reason=SkipReason(f"the dataset cannot be read: {exc}"), cursor=context.cursor)
        events = []
        if context.cursor != current:
            events.append(AssetObservation(asset_key=SOURCE, tags={DATA_VERSION_TAG: current},
                                           metadata={"source": MetadataValue.text(what)}))
        active = active_run(load_registry(paths))
        trained_on = active.get("data_sha256") if active else None
        if current == trained_on or training_requested_for(context.instance, current):
            return SensorResult(asset_events=events, cursor=current,
                                skip_reason=SkipReason(f"data version {current[:12]} ({what}) is trained on or requested"))
        request = RunRequest(run_key=f"data:{current}", job_name=training_job.name,
                             tags={"yts/trigger": "new_data", "yts/data_sha256": current,
                                   "yts/active_data_sha256": trained_on or "none"})
        context.log.info(f"new data version {current[:12]} ({what}); the active run's is {str(trained_on)[:12]}")
        return SensorResult(run_requests=[request], asset_events=events, cursor=current)

    return new_data_sensor


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
        sensors=[build_drift_sensor(interval), build_new_data_sensor(interval), automation_sensor],
        schedules=[build_retraining_schedule(config.RETRAIN_CRON.get())],
    )
