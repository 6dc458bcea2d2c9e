"""Scheduled retraining: weekly by default, any cron through YTS_RETRAIN_CRON."""

import os

from dagster import DefaultScheduleStatus, ScheduleDefinition

from .jobs import training_job

DEFAULT_RETRAIN_CRON = "0 3 * * 1"  # Mondays 03:00 UTC


def build_retraining_schedule(cron: str) -> ScheduleDefinition:
    return ScheduleDefinition(
        name="retraining_schedule",
        job=training_job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
        tags={"yts/trigger": "schedule"},
        description=f"Retrains on the cron '{cron}' (UTC); set YTS_RETRAIN_CRON to change it.",
    )


retraining_schedule = build_retraining_schedule(os.environ.get("YTS_RETRAIN_CRON", DEFAULT_RETRAIN_CRON))
