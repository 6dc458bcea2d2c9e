"""The training manifest: what went in, what came out, with hashes."""

from __future__ import annotations

import hashlib
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .files import sha256_file
from .paths import ProjectPaths

ML_PACKAGE = Path(__file__).resolve().parents[1] / "ml"
KEY_PACKAGES = ("yts", "dagster", "dagster-webserver", "dagster-mlflow", "pandas", "numpy",
                "scikit-learn", "joblib", "optuna", "fastapi", "uvicorn")


def artifact_files(paths: ProjectPaths) -> dict[str, Path]:
    """Every candidate artifact that a run publishes, by name."""
    return {
        "processed_channels": paths.processed_csv,
        "feature_snapshot": paths.feature_snapshot,
        "supervised_bundle": paths.supervised_bundle,
        "supervised_model": paths.supervised_model,
        "clustering_bundle": paths.clustering_bundle,
        "clustering_model": paths.clustering_model,
        "clustered_channels": paths.clustered_channels,
        "training_metrics": paths.training_metrics,
        "data_quality_report": paths.data_quality_report,
        "training_baseline": paths.training_baseline,
        "channel_insights": paths.channel_insights,
        "model_card": paths.model_card,
        "influence_map": paths.influence_map,
        "earnings_choropleth": paths.earnings_choropleth,
        "category_dominance_map": paths.category_dominance_map,
    }


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in KEY_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def code_version() -> str:
    """Hash of the ML modules: changes whenever training logic changes."""
    digest = hashlib.sha256()
    for source in sorted(ML_PACKAGE.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def build_manifest(paths: ProjectPaths, run_id: str, source: dict[str, object], training_metrics: dict[str, object],
                   mlflow_run_id: str | None = None) -> dict[str, object]:
    artifacts = {}
    for name, path in artifact_files(paths).items():
        if not path.is_file():
            raise FileNotFoundError(f"artifact {name} is missing at {path}: materialize it before the manifest")
        artifacts[name] = {"path": str(path), "file": path.name, "sha256": sha256_file(path),
                           "bytes": path.stat().st_size}
    manifest = {
        "manifest_format": 1,
        "run_id": run_id,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "data": {"source": source["kind"], "path": source["path"], "data_sha256": source["sha256"],
                 "rows": source["rows"], "processed_sha256": artifacts["processed_channels"]["sha256"]},
        "training_config": training_metrics["config"],
        "hyperparameters": training_metrics["hyperparameters"],
        "mlflow_run_id": mlflow_run_id,
        "metrics": training_metrics["supervised"],
        "metrics_by_schema": training_metrics.get("supervised_by_schema", {}),
        "clustering": training_metrics["clustering"],
        "code_version": code_version(),
        "packages": package_versions(),
        "artifacts": artifacts,
    }
    return with_contract_keys(manifest)


def with_contract_keys(manifest: dict[str, Any]) -> dict[str, Any]:
    """The original platform's top-level keys, derived from yts's structure (which stays beside them).
    Also fills them in for manifests written before they existed."""
    artifacts = manifest["artifacts"]
    return {
        **manifest,
        "timestamp_utc": manifest.get("timestamp_utc", manifest["created_at"]),
        "python_version": manifest.get("python_version", manifest["packages"].get("python") or "unknown"),
        "platform": manifest.get("platform", "unknown"),
        "data_path": manifest.get("data_path", manifest["data"]["path"]),
        "data_sha256": manifest.get("data_sha256", manifest["data"]["data_sha256"]),
        "artifact_hashes": {name: artifact["sha256"] for name, artifact in artifacts.items()},
        "artifact_paths": {name: artifact["path"] for name, artifact in artifacts.items()},
    }
