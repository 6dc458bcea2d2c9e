"""Integrity checks on the manifest: what the registry publishes must be what was written."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from ..assets.mlops import training_manifest
from ..ml import quality
from ..ml.files import read_json
from ..resources import YtsSettings
from .common import evaluate


@asset_check(asset=training_manifest, blocking=True,
             description="Every artifact in the manifest exists and matches its sha256. Blocking, ERROR.")
def artifacts_match_manifest(context: AssetCheckExecutionContext, settings: YtsSettings) -> AssetCheckResult:
    return evaluate(context, settings, "artifacts_match_manifest", quality.artifacts_match_manifest(read_json(settings.paths().training_manifest)))
