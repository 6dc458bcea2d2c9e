"""Integrity checks on the manifest: what the registry publishes must be what was written."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from ...core.files import read_json
from ...lineage import input_paths
from ...metadata import check_result
from ...ml import quality
from ...resources import YtsSettings


@asset_check(asset="training_manifest", blocking=True,
             description="Every artifact in the manifest exists and matches its sha256. Blocking, ERROR.")
def artifacts_match_manifest(context: AssetCheckExecutionContext, settings: YtsSettings) -> AssetCheckResult:
    manifest = read_json(input_paths(context, settings, "training_manifest").training_manifest)
    return check_result(context, "artifacts_match_manifest", quality.artifacts_match_manifest(manifest))
