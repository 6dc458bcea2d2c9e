"""Weights & Biases beside MLflow: one W&B run per Dagster run, driven by the ExperimentTracking resource.

Only tracking.py imports this module, and only when W&B is on (YTS_ENABLE_WANDB): off, neither it nor
`wandb` is imported. The run logs what MLflow gets, under the same names: the config holds the
training config and the refit hyperparameters (train_cv_folds, earnings_max_iter, ...), the summary
the CV metrics per target beside the baseline (earnings_log_r2, earnings_baseline_log_r2, ...), the
reports go in a `reports` artifact and the .skops model files in a `model` artifact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPORTS_ARTIFACT = "yts-reports"
MODEL_ARTIFACT = "yts-models"


def run_params(manifest: dict[str, Any]) -> dict[str, Any]:
    """The parameters log_supervised gives MLflow, from a training manifest."""
    from .ml.features import ENCODED_FEATURES
    from .ml.models import SupervisedModel

    config = manifest["training_config"].get("supervised", manifest["training_config"])
    hyperparameters = manifest["hyperparameters"]
    params: dict[str, Any] = {f"train_{k}": v for k, v in config.items()}
    params |= {"features": ",".join(ENCODED_FEATURES), "target_transform": SupervisedModel.target_transform,
               "hyperparameter_source": hyperparameters["source"]}
    for target, refit in hyperparameters["refit"].items():
        params |= {f"{target}_{k}": v for k, v in refit.items()}
    return params


def run_metrics(manifest: dict[str, Any]) -> dict[str, float]:
    """The metrics log_supervised gives MLflow, from a training manifest."""
    from .ml.experiment import flat_metrics

    return flat_metrics(manifest.get("metrics_by_schema") or {"contract": manifest["metrics"]})


def start_run(*, dagster_run_id: str, job_name: str, project: str, entity: str | None,
              tags: dict[str, str]) -> Any:
    """Open (or, in a later step process of a multiprocess run, resume) the W&B run of a Dagster run.
    WANDB_MODE, WANDB_DIR, WANDB_API_KEY and W&B's other variables apply as usual."""
    import wandb

    return wandb.init(
        project=project,
        entity=entity,
        id=dagster_run_id,  # a uuid: valid as a W&B run id, and the same in every step process
        resume="allow",
        name=f"{job_name}-{dagster_run_id[:8]}",
        job_type=job_name,
        tags=[tag[:64] for tag in (job_name, dagster_run_id, *(f"{k}={v}" for k, v in tags.items()))],
        config={"dagster_run_id": dagster_run_id, "dagster_job": job_name},
        settings=wandb.Settings(console="off", reinit="create_new"),  # Dagster already captures the logs
    )


def log_run_summary(run: Any, manifest: dict[str, Any], reports: list[Path], models: list[Path]) -> None:
    """Config, summary metrics, and the reports and model files as two artifacts of the run."""
    import wandb

    run.config.update(run_params(manifest), allow_val_change=True)
    run.summary.update(run_metrics(manifest))
    metadata = {"dagster_run_id": manifest["run_id"], "data_sha256": manifest["data"]["data_sha256"],
                "code_version": manifest["code_version"], "mlflow_run_id": manifest.get("mlflow_run_id")}
    for name, kind, files in ((REPORTS_ARTIFACT, "reports", reports), (MODEL_ARTIFACT, "model", models)):
        artifact = wandb.Artifact(name, type=kind, metadata=metadata)
        for path in files:
            artifact.add_file(str(path), name=Path(path).name)
        run.log_artifact(artifact)


def finish_run(run: Any, failed: bool) -> None:
    run.finish(exit_code=1 if failed else 0)
