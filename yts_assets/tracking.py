"""Experiment tracking through dagster-mlflow, switched on by config or YTS_ENABLE_MLFLOW=true.

Off, it imports nothing from MLflow (importing it costs about a second). On, it opens (or resumes,
in multiprocess runs) one MLflow run per Dagster run through dagster-mlflow's MlFlow helper,
tagged with the Dagster run id, and closes it when the run's execution ends: FINISHED, or FAILED
if any step failed. A store that cannot be reached fails the run in strict mode; otherwise the run
goes on untracked, with a warning.
"""

import warnings
from pathlib import Path
from types import SimpleNamespace

from dagster import BetaWarning, ConfigurableResource, DagsterEventType, InitResourceContext
from pydantic import Field, PrivateAttr

from .core import config
from .core.paths import ProjectPaths


class ExperimentTrackingError(RuntimeError):
    """Tracking was requested in strict mode but cannot work."""


class ExperimentTracking(ConfigurableResource):
    enabled: bool | None = Field(default=None, description="Track runs in MLflow; default YTS_ENABLE_MLFLOW.")
    tracking_uri: str | None = Field(default=None, description="Default MLFLOW_TRACKING_URI, else SQLite under "
                                                              "$YTS_ARTIFACT_DIR/mlflow/mlflow.db.")
    experiment_name: str | None = Field(default=None, description="Default MLFLOW_EXPERIMENT_NAME, else yts.")
    strict: bool | None = Field(default=None, description="Fail the run when the MLflow store cannot be used, instead "
                                                          "of warning and running untracked; default "
                                                          "YTS_EXPERIMENT_TRACKING_STRICT, else false.")
    _mlflow_run_id: str | None = PrivateAttr(default=None)
    _previous_uri_env: str | None = PrivateAttr(default=None)

    @property
    def experiment(self) -> str:
        return self.experiment_name or config.MLFLOW_EXPERIMENT_NAME.get() or "yts"

    def is_strict(self) -> bool:
        return self.strict if self.strict is not None else bool(config.EXPERIMENT_TRACKING_STRICT.get())

    def is_enabled(self) -> bool:
        return self.enabled if self.enabled is not None else bool(config.ENABLE_MLFLOW.get())

    @property
    def active(self) -> bool:
        return self._mlflow_run_id is not None

    @property
    def mlflow_run_id(self) -> str | None:
        return self._mlflow_run_id

    def resolved_uri(self) -> tuple[str, Path]:
        folder = ProjectPaths.from_env().artifact_dir / "mlflow"
        uri = self.tracking_uri or config.MLFLOW_TRACKING_URI.get() or f"sqlite:///{folder / 'mlflow.db'}"
        return uri, folder / "artifacts"

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if not self.is_enabled():
            return
        self._previous_uri_env = config.MLFLOW_TRACKING_URI.raw()
        try:
            self._mlflow_run_id = self._start_run(context)
        except Exception as exc:  # noqa: BLE001 - any store failure is reported the same way
            config.MLFLOW_TRACKING_URI.set(self._previous_uri_env)
            message = f"MLflow tracking is on but the store {self.resolved_uri()[0]} cannot be used: {exc}"
            if self.is_strict():
                raise ExperimentTrackingError(message) from exc
            context.log.warning(message + "; this run is not tracked")

    def _start_run(self, context: InitResourceContext) -> str:
        import mlflow

        with warnings.catch_warnings():  # dagster-mlflow marks its API beta; its version is pinned
            warnings.simplefilter("ignore", BetaWarning)
            from dagster_mlflow.resources import MlFlow
        uri, artifact_root = self.resolved_uri()
        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(uri)  # which also exports MLFLOW_TRACKING_URI; teardown restores it
        if mlflow.get_experiment_by_name(self.experiment) is None:
            # current MLflow refuses the plain file store: SQLite metadata, explicit artifact folder
            mlflow.create_experiment(self.experiment, artifact_location=artifact_root.as_uri())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BetaWarning)
            helper = MlFlow(SimpleNamespace(
                log=context.log, dagster_run=context.run, run_id=context.run.run_id,
                resource_config={"experiment_name": self.experiment, "mlflow_tracking_uri": uri,
                                 "extra_tags": {**config.EXPERIMENT_TAGS.get(), "yts_job": context.run.job_name}},
            ))
        return helper.mlflow_run_id or mlflow.active_run().info.run_id

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if not self.active:
            return
        import mlflow

        failures = context.instance.get_records_for_run(context.run.run_id, of_type=DagsterEventType.STEP_FAILURE).records
        mlflow.end_run(status="FAILED" if failures else "FINISHED")
        config.MLFLOW_TRACKING_URI.set(self._previous_uri_env)
