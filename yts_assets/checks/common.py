"""Turn plain CheckOutcomes into AssetCheckResults; a failing blocking check records a rejection."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from ..ml.quality import CheckOutcome
from ..ml.registry import record_rejection
from ..resources import YtsSettings


def check_label(spec: AssetCheckSpec) -> str:
    return f"{spec.asset_key.to_user_string()}:{spec.name}"


def to_result(outcome: CheckOutcome, severity: AssetCheckSeverity, check_name: str | None = None) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=check_name,
        passed=outcome.passed,
        severity=severity,
        description=outcome.description,
        metadata={key: value if isinstance(value, (int, float, str)) else MetadataValue.json(value)
                  for key, value in outcome.metadata.items()},
    )


def gate(context: AssetCheckExecutionContext, settings: YtsSettings, outcome: CheckOutcome) -> AssetCheckResult:
    """ERROR result of a blocking check. On failure the run is recorded as rejected, with the reason."""
    [spec] = context.check_specs
    if not outcome.passed:
        record_rejection(settings.paths(), context.run.run_id, check_label(spec), outcome.description, actor="dagster")
        context.log.error(f"blocking check {check_label(spec)} failed: {outcome.description}; the active run stays")
    return to_result(outcome, AssetCheckSeverity.ERROR)


def warn(outcome: CheckOutcome, check_name: str | None = None) -> AssetCheckResult:
    return to_result(outcome, AssetCheckSeverity.WARN, check_name)
