"""What this installation can do, without importing the Dagster code location into the API process.

The definitions come from `dg list defs --json`, run once in a subprocess (bounded) and cached.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

from yts_assets.core import config
from yts_assets.core.model_aliases import mlflow_store
from yts_assets.core.paths import ProjectPaths

PACKAGES = {"dagster": "dagster", "webserver": "dagster-webserver", "mlflow": "mlflow", "wandb": "wandb",
            "dagster_mlflow": "dagster-mlflow", "optuna": "optuna"}
LIST_TIMEOUT_SECONDS = 60.0


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def installed_packages() -> dict[str, str | None]:
    return {key: package_version(name) for key, name in PACKAGES.items()}


def module_installed(name: str) -> bool:
    """Whether a module could be imported, without importing it."""
    return importlib.util.find_spec(name) is not None


PROMETHEUS_CONFIG = Path("deploy/monitoring/prometheus/prometheus.yml")
GRAFANA_DASHBOARDS = Path("deploy/monitoring/grafana/dashboards")
PROMETHEUS_RULES = Path("deploy/monitoring/prometheus/yts-alerts.yml")
ALERTMANAGER_CONFIG = Path("deploy/monitoring/alertmanager/alertmanager.yml")
FEAST_REPO = Path("feature_repo/feature_store.yaml")
PREFECT_FLOW = Path("orchestration/prefect/retraining_flow.py")  # the original's; yts has none


def capability_groups(root: Path, definitions: dict[str, Any], artifacts: Path) -> dict[str, dict[str, bool]]:
    """The original platform's five groups, answered for yts: Dagster stands where Prefect stood, and Dagster
    data versions where DVC stood, each beside the original's keys (which stay, answered truthfully)."""
    assets, jobs = set(definitions.get("assets", [])), set(definitions.get("jobs", []))
    shipped = project_dir() or root  # the deploy/ configs ship with the source tree
    loads = bool(definitions.get("loads"))
    return {
        "experiment_tracking": {"mlflow_installed": module_installed("mlflow"),
                                "wandb_installed": module_installed("wandb"),
                                "dagster_mlflow_installed": module_installed("dagster_mlflow"),
                                "mlflow_enabled": flag_enabled(config.ENABLE_MLFLOW) is True,
                                "mlflow_store_present": mlflow_store(ProjectPaths(root=root, artifact_dir=artifacts))
                                is not None,
                                "wandb_enabled": flag_enabled(config.ENABLE_WANDB) is True},
        "hpo": {"optuna_installed": module_installed("optuna"), "hpo_study_asset_present": "hpo_study" in assets},
        "feature_store": {"dvc_project_present": (root / "dvc.yaml").is_file(),
                          "feast_repo_present": (shipped / FEAST_REPO).is_file(),
                          "feast_installed": module_installed("feast"),
                          "feast_online_store_present": (artifacts / "feast" / "online_store.db").is_file(),
                          "dagster_data_versions": loads,
                          "feature_snapshot_asset_present": "feature_snapshot" in assets},
        "orchestration": {"prefect_installed": module_installed("prefect"),
                          "prefect_flow_present": (root / PREFECT_FLOW).is_file(),
                          "dagster_installed": module_installed("dagster"),
                          "dagster_definitions_load": loads,
                          "training_job_present": "training_job" in jobs},
        "monitoring": {"prometheus_config_present": (shipped / PROMETHEUS_CONFIG).is_file(),
                       "grafana_dashboards_present": any((shipped / GRAFANA_DASHBOARDS).glob("*.json")),
                       "prometheus_alert_rules_present": (shipped / PROMETHEUS_RULES).is_file(),
                       "alertmanager_config_present": (shipped / ALERTMANAGER_CONFIG).is_file(),
                       "metrics_endpoint": True,
                       "alert_webhook_configured": config.ALERT_WEBHOOK_URL.is_set(),
                       "dagster_alert_sensors_present": {"training_failure_alerts", "blocking_check_alerts"}
                       <= set(definitions.get("sensors", []))},
    }


def flag_enabled(variable: config.Variable) -> bool | str:
    """A boolean variable as training reads it; an unparseable value is reported, not raised."""
    try:
        return bool(variable.get())
    except config.ConfigError as exc:
        return f"invalid: {exc}"


def tracking_enabled() -> bool | str:
    """YTS_ENABLE_MLFLOW as training reads it."""
    return flag_enabled(config.ENABLE_MLFLOW)


def project_dir() -> Path | None:
    """The source tree holding yts_assets and its pyproject.toml (an editable install or a checkout)."""
    spec = importlib.util.find_spec("yts_assets")
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def summarize(listing: dict[str, Any]) -> dict[str, Any]:
    def names(kind: str, key: str = "name") -> list[str]:
        return sorted(item[key] for item in listing.get(kind, []) if not str(item[key]).startswith("__"))

    return {"loads": True, "jobs": names("jobs"), "sensors": names("sensors"), "schedules": names("schedules"),
            "assets": names("assets", "asset_key"), "asset_checks": len(listing.get("asset_checks", []))}


def list_definitions() -> dict[str, Any]:
    root = project_dir()
    dg = Path(sys.executable).with_name("dg")
    command = str(dg) if dg.exists() else shutil.which("dg")
    if root is None or command is None:
        return {"loads": False, "error": "dg or the project's pyproject.toml is not available in this installation"}
    try:
        completed = subprocess.run([command, "list", "defs", "--json"], cwd=root, capture_output=True, text=True,
                                   timeout=LIST_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return {"loads": False, "error": f"`dg list defs` took over {LIST_TIMEOUT_SECONDS:.0f}s"}
    if completed.returncode != 0:
        return {"loads": False, "error": completed.stderr.strip()[-2000:] or f"dg exited {completed.returncode}"}
    try:
        return summarize(json.loads(completed.stdout))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        return {"loads": False, "error": f"unexpected `dg list defs --json` output: {exc}"}


class DefinitionsSummary:
    """Lists the definitions once, on first use; later calls return the cached summary."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._summary: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        with self._lock:
            if self._summary is None:
                self._summary = list_definitions()
            return self._summary
