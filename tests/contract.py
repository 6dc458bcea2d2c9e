"""The original platform's interface, mirrored from ../shared/CONTRACT.md as strict pydantic models.

Written from the contract, never from yts's own schemas: a response validates only if every field the
contract lists is there with its type. Extra fields are allowed (yts is a superset). `ENDPOINTS` maps each
endpoint of CONTRACT.md's table to its model; test_contract.py checks that the table and this file agree.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr

CONTRACT_PATH = Path(__file__).resolve().parents[2] / "shared" / "CONTRACT.md"
Number = StrictFloat | StrictInt
Level = Literal["low", "medium", "high"]


class Superset(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class Health(Superset):
    status: Literal["ok"]


class Prediction(Superset):
    predicted_subscribers: StrictFloat
    predicted_earnings: StrictFloat
    predicted_growth: StrictFloat


class BatchSummary(Superset):
    count: StrictInt
    avg_predicted_subscribers: StrictFloat
    avg_predicted_earnings: StrictFloat
    avg_predicted_growth: StrictFloat


class Batch(Superset):
    records: list[Prediction]
    summary: BatchSummary


class SimulationInput(Superset):
    category: StrictStr
    country: StrictStr
    age: StrictInt
    start_uploads: StrictInt
    end_uploads: StrictInt
    step: StrictInt


class SimulationPoint(Prediction):
    uploads: StrictInt


class Simulation(Superset):
    input: SimulationInput
    points: list[SimulationPoint]
    best_uploads_by_growth: StrictInt
    best_uploads_by_earnings: StrictInt


class Cluster(Superset):
    cluster_id: StrictInt
    archetype: StrictStr


class Recommendation(Superset):
    prediction: Prediction
    cluster: Cluster
    risk_level: Level
    recommendations: list[StrictStr]


class Importance(Superset):
    feature: StrictStr
    importance: Number


class FeatureImportance(Superset):
    target: Literal["subscribers", "earnings", "growth"]
    records: list[Importance]


class ClusterSummaryRecord(Superset):
    cluster_id: StrictInt
    archetype: StrictStr
    size: StrictInt
    avg_uploads: Number
    avg_subscribers: Number
    avg_earnings: Number
    avg_growth: Number
    dominant_category: StrictStr


class ClusterSummary(Superset):
    records: list[ClusterSummaryRecord]


class CountryMetric(Superset):
    country: StrictStr
    abbreviation: StrictStr
    total_subscribers: Number
    total_earnings: Number
    dominant_category: StrictStr


class CountryMetrics(Superset):
    records: list[CountryMetric]


class RawRecord(Superset):
    youtuber: StrictStr | None
    uploads: Number | None
    category: StrictStr | None
    country: StrictStr | None
    subscribers: Number | None
    highest_yearly_earnings: Number | None
    subscribers_for_last_30_days: Number | None
    created_year: Number | None


class RawSample(Superset):
    records: list[RawRecord]


class ProcessedRecord(Superset):
    youtuber: StrictStr | None
    uploads: Number | None
    category: StrictStr | None
    country: StrictStr | None
    age: Number | None
    subscribers: Number | None
    highest_yearly_earnings: Number | None
    growth_target: Number | None


class ProcessedSample(Superset):
    records: list[ProcessedRecord]


class CategoryRecord(Superset):
    category: StrictStr
    channel_count: StrictInt
    avg_subscribers: Number | None
    avg_earnings: Number | None
    avg_growth: Number | None
    total_subscribers: Number
    total_earnings: Number


class CategoryPerformance(Superset):
    records: list[CategoryRecord]


class BucketRecord(Superset):
    upload_bucket: Literal["0-100", "101-500", "501-2k", "2k-10k", "10k+"]
    channel_count: StrictInt
    avg_growth: Number | None
    avg_earnings: Number | None
    avg_subscribers: Number | None


class UploadGrowthBuckets(Superset):
    records: list[BucketRecord]


class Manifest(Superset):
    run_id: StrictStr
    timestamp_utc: StrictStr
    python_version: StrictStr
    platform: StrictStr
    data_path: StrictStr
    data_sha256: StrictStr
    training_config: dict
    metrics: dict
    artifact_hashes: dict[StrictStr, StrictStr]
    artifact_paths: dict[StrictStr, StrictStr]


class RegistryRun(Superset):
    run_id: StrictStr
    timestamp_utc: StrictStr
    artifact_paths: dict[StrictStr, StrictStr]
    training_config: dict


class Registry(Superset):
    active_run_id: StrictStr | None
    runs: list[RegistryRun]


class DriftSummary(Superset):
    total_records: StrictInt
    high_severity_records: StrictInt
    is_drift_risk: StrictBool


class DriftRecord(Superset):
    index: StrictInt
    warnings: list[StrictStr]
    severity: Level


class DriftCheck(Superset):
    summary: DriftSummary
    records: list[DriftRecord]


class ExperimentTracking(Superset):
    mlflow_installed: StrictBool
    wandb_installed: StrictBool


class Hpo(Superset):
    optuna_installed: StrictBool


class FeatureStore(Superset):
    dvc_project_present: StrictBool
    feast_repo_present: StrictBool


class Orchestration(Superset):
    prefect_installed: StrictBool
    prefect_flow_present: StrictBool


class Monitoring(Superset):
    prometheus_config_present: StrictBool
    grafana_dashboards_present: StrictBool


class Capabilities(Superset):
    experiment_tracking: ExperimentTracking
    hpo: Hpo
    feature_store: FeatureStore
    orchestration: Orchestration
    monitoring: Monitoring


HTML = "html"
TEXT = "text"
STATUS_ONLY = "status"
ENDPOINTS: dict[str, type[BaseModel] | str] = {
    "GET /health": Health,
    "GET /ready": STATUS_ONLY,
    "POST /predict": Prediction,
    "POST /predict/batch": Batch,
    "POST /predict/simulate": Simulation,
    "POST /predict/recommendation": Recommendation,
    "GET /predict/feature-importance": FeatureImportance,
    "GET /clusters/summary": ClusterSummary,
    "GET /maps/country-metrics": CountryMetrics,
    "GET /maps/influence-map": HTML,
    "GET /maps/earnings-choropleth": HTML,
    "GET /maps/category-dominance": HTML,
    "GET /data/raw-sample": RawSample,
    "GET /data/processed-sample": ProcessedSample,
    "GET /analytics/category-performance": CategoryPerformance,
    "GET /analytics/upload-growth-buckets": UploadGrowthBuckets,
    "GET /mlops/manifest": Manifest,
    "GET /mlops/registry": Registry,
    "POST /mlops/drift-check": DriftCheck,
    "GET /mlops/capabilities": Capabilities,
    "GET /metrics": TEXT,
}


def contract_endpoints(text: str) -> dict[str, set[str]]:
    """`METHOD /path` -> the backticked names in its response column, from CONTRACT.md's endpoint table."""
    endpoints = {}
    for line in text.splitlines():
        match = re.match(r"\|\s*(GET|POST) (/\S*)\s*\|([^|]*)\|(.*)\|\s*$", line)
        if match:
            method, path, _, response = match.groups()
            endpoints[f"{method} {path}"] = set(re.findall(r"`([a-z_0-9]+)`", response))
    return endpoints


def field_names(model: type[BaseModel]) -> set[str]:
    """Every field name in the model and the models nested in it."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(name)
        for candidate in _nested_models(info.annotation):
            names |= field_names(candidate)
    return names


def _nested_models(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _nested_models(arg)]
