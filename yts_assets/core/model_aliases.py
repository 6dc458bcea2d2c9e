"""The MLflow model registry follows the yts registry: the `champion` alias and each version's gate decision.

Every registry change (publish, promote, rollback, reject, restore) calls `sync_mlflow` after its commit, so
MLflow and `model_registry.json` never disagree. It acts only where an MLflow store exists (MLFLOW_TRACKING_URI,
or the SQLite store training created under the artifact folder) and imports mlflow only then. Each registered
model `yts-<target>` gets `champion` on the version the active run logged (tag `yts_run_id`), or no alias when
the active run logged none; each version gets `gate_decision` (the run's registry status) and `rejected=true`
when the run was rejected. A store that cannot be reached is logged, never fails the registry change.
"""

from __future__ import annotations

import logging
from typing import Any

from . import config
from .paths import ProjectPaths

CHAMPION = "champion"
MODEL_PREFIX = "yts-"
log = logging.getLogger("yts.registry")


def mlflow_store(paths: ProjectPaths) -> str | None:
    """The MLflow tracking URI to follow, or None when there is no store to keep in step."""
    explicit = config.MLFLOW_TRACKING_URI.get()
    if explicit:
        return explicit
    database = paths.artifact_dir / "mlflow" / "mlflow.db"
    return f"sqlite:///{database}" if database.is_file() else None


def sync_mlflow(paths: ProjectPaths, registry: dict[str, Any]) -> str | None:
    """Align aliases and decision tags with `registry`; returns the problem when MLflow could not be updated."""
    uri = mlflow_store(paths)
    if uri is None:
        return None
    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        status = {run["run_id"]: run["status"] for run in registry["runs"]}
        active = registry["active_run_id"]
        for model in client.search_registered_models(filter_string=f"name LIKE '{MODEL_PREFIX}%'"):
            champion = None
            for version in client.search_model_versions(f"name='{model.name}'"):
                run_id = version.tags.get("yts_run_id")
                if run_id == active:
                    champion = version.version
                decision = status.get(run_id)
                if decision and version.tags.get("gate_decision") != decision:
                    client.set_model_version_tag(model.name, version.version, "gate_decision", decision)
                    if decision == "rejected":
                        client.set_model_version_tag(model.name, version.version, "rejected", "true")
            if champion is not None:
                client.set_registered_model_alias(model.name, CHAMPION, champion)
            elif CHAMPION in (model.aliases or {}):
                client.delete_registered_model_alias(model.name, CHAMPION)
    except Exception as exc:  # noqa: BLE001 - the registry's own change stands; say why MLflow lags
        problem = f"MLflow registry at {uri} not updated: {type(exc).__name__}: {exc}"
        log.warning(problem)
        return problem
    return None
