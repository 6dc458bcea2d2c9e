"""Jobs: the training graph with its checks, and the payload drift check."""

from dagster import AssetSelection, define_asset_job

from .assets import data, mlops, models, monitoring

TRAINING_ASSETS = [
    data.raw_youtube_stats, data.processed_channels, data.feature_snapshot, data.data_quality_report,
    data.training_baseline, models.supervised_bundle, models.clustering_bundle, models.training_metrics,
    mlops.training_manifest, mlops.model_registry,
]
MONITORING_ASSETS = [monitoring.production_payloads]

training_job = define_asset_job(
    "training_job",
    selection=AssetSelection.assets(*TRAINING_ASSETS),
    description="The whole training graph with its checks: data, models, manifest and the registry gate.",
)
drift_job = define_asset_job(
    "drift_job",
    selection=AssetSelection.assets(*MONITORING_ASSETS),
    description="Reads data/incoming/ into production_payloads and runs its drift check against training_baseline.",
)
