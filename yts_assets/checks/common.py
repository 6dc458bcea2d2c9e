"""Turn plain CheckOutcomes into AssetCheckResults. A blocking check fails with ERROR and records
the run as rejected; a non-blocking one warns."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from ..ml.quality import CheckOutcome
from ..ml.registry import record_rejection
from ..resources import YtsSettings


def check_label(spec: AssetCheckSpec) -> str:
    return f"{spec.asset_key.to_user_string()}:{spec.name}"


def evaluate(context: AssetCheckExecutionContext, settings: YtsSettings, check_name: str,
             outcome: CheckOutcome) -> AssetCheckResult:
    [spec] = [s for s in context.check_specs if s.name == check_name]
    if spec.blocking and not outcome.passed:
        record_rejection(settings.paths(), context.run.run_id, check_label(spec), outcome.description, actor="dagster")
        context.log.error(f"blocking check {check_label(spec)} failed: {outcome.description}; the active run stays")
    return AssetCheckResult(
        asset_key=spec.asset_key,
        check_name=check_name,
        passed=outcome.passed,
        severity=AssetCheckSeverity.ERROR if spec.blocking else AssetCheckSeverity.WARN,
        description=outcome.description,
        metadata={key: value if isinstance(value, (int, float, str)) else MetadataValue.json(value)
                  for key, value in outcome.metadata.items()},
    )
