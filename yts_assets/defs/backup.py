"""Registry backups on a schedule: `backup_job` archives artifacts/mlops/ (core/backup.py does the work).

Built when the code location loads (`@definitions`), so YTS_BACKUP_CRON is read then, never at import.
"""

from dagster import (
    DefaultScheduleStatus,
    Definitions,
    MetadataValue,
    OpExecutionContext,
    Output,
    ScheduleDefinition,
    definitions,
    job,
    op,
)

from ..core import config
from ..core.backup import backup_registry
from ..resources import YtsSettings


@op(description="Writes a verified .tar.gz of artifacts/mlops/ (registry, audit log, published runs, alert outbox) "
                "into YTS_BACKUP_DIR under the registry lock, and keeps the newest YTS_BACKUP_KEEP archives.")
def backup_registry_op(context: OpExecutionContext, settings: YtsSettings) -> Output[str]:
    outcome = backup_registry(settings.paths())
    report = outcome.report
    context.log.info(f"backup written: {outcome.path}; {report.summary()}")
    for skipped in outcome.skipped:
        context.log.warning(f"left out of the backup: {skipped}")
    for deleted in outcome.deleted:
        context.log.info(f"deleted by retention ({config.BACKUP_KEEP.name}): {deleted}")
    return Output(str(outcome.path), metadata={
        "archive": MetadataValue.path(str(outcome.path)),
        "sha256": MetadataValue.text(report.sha256),
        "size_bytes": MetadataValue.int(report.size_bytes),
        "runs": MetadataValue.int(report.runs),
        "published_runs": MetadataValue.int(len(report.published_runs)),
        "active_run_id": MetadataValue.text(report.active_run_id or "none"),
        "files": MetadataValue.int(report.files),
        "deleted_archives": MetadataValue.json([str(path) for path in outcome.deleted]),
        "skipped": MetadataValue.json(list(outcome.skipped)),
    })


@job(name="backup_job", description="Backs up the registry (artifacts/mlops/) into a verified archive; see "
                                    "`yts-registry verify-backup` and `yts-registry restore`.")
def backup_job() -> None:
    backup_registry_op()


def build_backup_schedule(cron: str) -> ScheduleDefinition:
    return ScheduleDefinition(
        name="backup_schedule",
        job=backup_job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
        tags={"yts/trigger": "schedule"},
        description=f"Backs up the registry on the cron '{cron}' (UTC); set {config.BACKUP_CRON.name} to change it.",
    )


@definitions
def backups() -> Definitions:
    return Definitions(jobs=[backup_job], schedules=[build_backup_schedule(config.BACKUP_CRON.get())])
