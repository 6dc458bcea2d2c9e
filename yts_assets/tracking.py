"""Experiment tracking through dagster-mlflow, switched on by config or YTS_ENABLE_MLFLOW=true.

Off, it imports nothing from MLflow. On, it opens (or resumes, in multiprocess runs) one MLflow
run per Dagster run through dagster-mlflow's MlFlow helper, tagged with the Dagster run id, and
closes it when the run's execution ends: FINISHED, or FAILED if any step failed.
"""

import os
import warnings
from pathlib import Path
from types import SimpleNamespace

from dagster import BetaWarning, ConfigurableResource, DagsterEventType, InitResourceContext
from pydantic import Field, PrivateAttr

from .ml.settings import ProjectPaths

INSTALL_HINT = "pip install -c requirements.lock dagster-mlflow mlflow"


class ExperimentTrackingError(RuntimeError):
    """Tracking was requested in strict mode but cannot work."""


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


class ExperimentTracking(ConfigurableResource):
    enabled: bool | None = Field(default=None, description="Track runs in MLflow; default YTS_ENABLE_MLFLOW.")
    tracking_uri: str | None = Field(default=None, description="Default MLFLOW_TRACKING_URI, else SQLite under "
                                                              "$YTS_ARTIFACT_DIR/mlflow/mlflow.db.")
    experiment_name: str = "yts"
    strict: bool = Field(default=False, description="Fail when MLflow is missing, instead of warning.")
    _mlflow_run_id: str | None = PrivateAttr(default=None)
    _previous_uri_env: str | None = PrivateAttr(default=None)

    def is_enabled(self) -> bool:
        return self.enabled if self.enabled is not None else env_flag("YTS_ENABLE_MLFLOW")

    @property
    def active(self) -> bool:
        return self._mlflow_run_id is not None

    @property
    def mlflow_run_id(self) -> str | None:
        return self._mlflow_run_id

    def resolved_uri(self) -> tuple[str, Path]:
        folder = ProjectPaths.from_env().artifact_dir / "mlflow"
        uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{folder / 'mlflow.db'}"
        return uri, folder / "artifacts"

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if not self.is_enabled():
            return
        try:
            import mlflow

            with warnings.catch_warnings():  # dagster-mlflow marks its API beta; its version is pinned
                warnings.simplefilter("ignore", BetaWarning)
                from dagster_mlflow.resources import MlFlow
        except ImportError as exc:
            message = f"MLflow tracking is on but cannot be imported ({exc}); install it: {INSTALL_HINT}"
            if self.strict:
                raise ExperimentTrackingError(message) from exc
            context.log.warning(message + "; this run is not tracked")
            return
        uri, artifact_root = self.resolved_uri()
        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self._previous_uri_env = os.environ.get("MLFLOW_TRACKING_URI")
        mlflow.set_tracking_uri(uri)  # which also exports MLFLOW_TRACKING_URI; teardown restores it
        if mlflow.get_experiment_by_name(self.experiment_name) is None:
            # current MLflow refuses the plain file store: SQLite metadata, explicit artifact folder
            mlflow.create_experiment(self.experiment_name, artifact_location=artifact_root.as_uri())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BetaWarning)
            helper = MlFlow(SimpleNamespace(
                log=context.log, dagster_run=context.run, run_id=context.run.run_id,
                resource_config={"experiment_name": self.experiment_name, "mlflow_tracking_uri": uri,
                                 "extra_tags": {"yts_job": context.run.job_name}},
            ))
        self._mlflow_run_id = helper.mlflow_run_id or mlflow.active_run().info.run_id

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if not self.active:
            return
        import mlflow

        failures = context.instance.get_records_for_run(context.run.run_id, of_type=DagsterEventType.STEP_FAILURE).records
        mlflow.end_run(status="FAILED" if failures else "FINISHED")
        if self._previous_uri_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = self._previous_uri_env
