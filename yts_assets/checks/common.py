"""Turn a plain CheckOutcome into Dagster's AssetCheckResult."""

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from ..ml.quality import CheckOutcome


def to_result(outcome: CheckOutcome, severity: AssetCheckSeverity = AssetCheckSeverity.ERROR) -> AssetCheckResult:
    return AssetCheckResult(
        passed=outcome.passed,
        severity=severity,
        description=outcome.description,
        metadata={key: value if isinstance(value, (int, float, str)) else MetadataValue.json(value)
                  for key, value in outcome.metadata.items()},
    )
