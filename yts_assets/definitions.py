"""The yts code location: `dagster dev -w workspace.yaml` or `dg dev` loads `defs`."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from .assets import data, mlops, models, monitoring
from .checks import data as data_checks
from .checks import mlops as mlops_checks
from .checks import models as model_checks
from .checks import monitoring as monitoring_checks
from .resources import YtsSettings

ALL_ASSETS = [
    data.raw_youtube_stats, data.processed_channels, data.feature_snapshot, data.data_quality_report,
    data.training_baseline, models.supervised_bundle, models.clustering_bundle, models.training_metrics,
    mlops.training_manifest, mlops.model_registry,
]
TRAINING_CHECKS = [*data_checks.DATA_CHECKS, *model_checks.MODEL_CHECKS, mlops_checks.artifacts_match_manifest]
MONITORING_ASSETS = [monitoring.production_payloads]
ALL_CHECKS = [*TRAINING_CHECKS, monitoring_checks.payload_drift]
MAIN_JOB_NAME = "yts_main_job"

main_job = define_asset_job(
    MAIN_JOB_NAME,
    selection=AssetSelection.assets(*ALL_ASSETS),
    description="Materializes the whole training graph with its checks: data, models, manifest and registry.",
)

defs = Definitions(
    assets=[*ALL_ASSETS, *MONITORING_ASSETS],
    asset_checks=ALL_CHECKS,
    jobs=[main_job],
    resources={"settings": YtsSettings()},
    executor=in_process_executor,
)
