"""Experiment tracking through dagster-mlflow, switched on by config or YTS_ENABLE_MLFLOW=true.

Off, it imports nothing from MLflow (importing it costs about a second). On, it opens (or resumes,
in multiprocess runs) one MLflow run per Dagster run through dagster-mlflow's MlFlow helper,
tagged with the Dagster run id, and closes it when the run's execution ends: FINISHED, or FAILED
if any step failed. A store that cannot be reached fails the run in strict mode; otherwise the run
goes on untracked, with a warning.

Weights & Biases is a second, independent opt-in (YTS_ENABLE_WANDB, WANDB_PROJECT, WANDB_ENTITY; the
`wandb` extra): one W&B run per Dagster run, opened here, given the run's config, metrics, reports and
model files by `log_run_summary` (called by training_manifest), and finished in teardown, failed if any
step failed. Off, neither `wandb` nor wandb_tracking.py is imported. A missing package or a failed
`wandb.init` fails the run in strict mode and is otherwise a warning.
"""

import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

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
    wandb_enabled: bool | None = Field(default=None, description="Track runs in Weights & Biases too; default "
                                                                 "YTS_ENABLE_WANDB, else false.")
    wandb_project: str | None = Field(default=None, description="Default WANDB_PROJECT, else yts.")
    wandb_entity: str | None = Field(default=None, description="Default WANDB_ENTITY, else the API key's default "
                                                               "entity.")
    _mlflow_run_id: str | None = PrivateAttr(default=None)
    _previous_uri_env: str | None = PrivateAttr(default=None)
    _wandb_run: Any = PrivateAttr(default=None)
    _log: Any = PrivateAttr(default=None)

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

    def is_wandb_enabled(self) -> bool:
        return self.wandb_enabled if self.wandb_enabled is not None else bool(config.ENABLE_WANDB.get())

    @property
    def wandb_active(self) -> bool:
        return self._wandb_run is not None

    @property
    def wandb_run_id(self) -> str | None:
        return self._wandb_run.id if self._wandb_run is not None else None

    def wandb_target(self) -> tuple[str, str | None]:
        """(project, entity) of the W&B run."""
        return (self.wandb_project or config.WANDB_PROJECT.get() or "yts",
                self.wandb_entity or config.WANDB_ENTITY.get())

    def resolved_uri(self) -> tuple[str, Path]:
        folder = ProjectPaths.from_env().artifact_dir / "mlflow"
        uri = self.tracking_uri or config.MLFLOW_TRACKING_URI.get() or f"sqlite:///{folder / 'mlflow.db'}"
        return uri, folder / "artifacts"

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._log = context.log
        if self.is_enabled():
            self._setup_mlflow(context)
        if self.is_wandb_enabled():
            self._setup_wandb(context)

    def _setup_mlflow(self, context: InitResourceContext) -> None:
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

    def _setup_wandb(self, context: InitResourceContext) -> None:
        project, entity = self.wandb_target()
        try:
            from . import wandb_tracking

            self._wandb_run = wandb_tracking.start_run(
                dagster_run_id=context.run.run_id, job_name=context.run.job_name, project=project, entity=entity,
                tags=config.EXPERIMENT_TAGS.get())
        except ImportError as exc:
            self._wandb_failed(f"W&B tracking is on ({config.ENABLE_WANDB.name}) but the wandb package is not "
                               f"installed ({exc}): pip install -c requirements.lock -e '.[wandb]'", exc)
        except Exception as exc:  # noqa: BLE001 - login, network and config failures are reported the same way
            self._wandb_failed(f"W&B tracking is on ({config.ENABLE_WANDB.name}) but wandb.init for project "
                               f"{project!r} failed: {exc}", exc)

    def _wandb_failed(self, message: str, exc: BaseException) -> None:
        if not self.is_strict():
            self._log.warning(message + "; this run is not tracked in W&B")
            return
        if self.active:  # resource setup failed: no teardown will close the MLflow run
            import mlflow

            mlflow.end_run(status="FAILED")
            config.MLFLOW_TRACKING_URI.set(self._previous_uri_env)
            self._mlflow_run_id = None
        raise ExperimentTrackingError(message) from exc

    def log_run_summary(self, manifest: dict[str, Any], reports: list[Path], models: list[Path]) -> None:
        """Give the W&B run the training config and hyperparameters (config), the CV metrics per target (summary),
        the reports (a `reports` artifact) and the model files (a `model` artifact). A no-op when W&B is off;
        MLflow gets the same through ml/experiment.py."""
        if not self.wandb_active:
            return
        from . import wandb_tracking

        try:
            wandb_tracking.log_run_summary(self._wandb_run, manifest, reports, models)
        except Exception as exc:  # noqa: BLE001
            message = f"W&B run {self.wandb_run_id} could not log the run summary: {exc}"
            if self.is_strict():
                raise ExperimentTrackingError(message) from exc
            self._log.warning(message)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if not (self.active or self.wandb_active):
            return
        failures = context.instance.get_records_for_run(context.run.run_id, of_type=DagsterEventType.STEP_FAILURE).records
        if self.active:
            import mlflow

            mlflow.end_run(status="FAILED" if failures else "FINISHED")
            config.MLFLOW_TRACKING_URI.set(self._previous_uri_env)
        if self.wandb_active:
            from . import wandb_tracking

            run, self._wandb_run = self._wandb_run, None
            wandb_tracking.finish_run(run, failed=bool(failures))
