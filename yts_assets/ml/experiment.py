"""What a training run logs to MLflow. mlflow is imported only when tracking is on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .features import ENCODED_FEATURES
from .models import SupervisedModel

REGISTERED_MODEL_PREFIX = "yts"
# MLflow stores sklearn models with skops, which asks to trust the tree nodes of our own models.
SKOPS_TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def flat_metrics(metrics: dict[str, dict[str, Any]]) -> dict[str, float]:
    """earnings_log_r2, earnings_baseline_log_r2, ... for every target and metric."""
    flat = {}
    for target, result in metrics.items():
        for name, value in result["model"].items():
            flat[f"{target}_{name}"] = value
        for name, value in result["baseline"].items():
            flat[f"{target}_baseline_{name}"] = value
        flat[f"{target}_rows"] = result["rows"]
    return flat


def log_supervised(model: SupervisedModel, example_features: np.ndarray) -> None:
    """Params, CV metrics beside the baseline, and each model with a signature and input example."""
    import mlflow
    import mlflow.sklearn
    import sklearn
    from mlflow.models import infer_signature

    mlflow.log_params({f"train_{k}": v for k, v in model.config.items()})
    mlflow.log_params({"features": ",".join(ENCODED_FEATURES), "target_transform": model.target_transform,
                       "hyperparameter_source": model.hyperparameter_source})
    for target, params in model.refit_parameters.items():
        mlflow.log_params({f"{target}_{k}": v for k, v in params.items()})
    mlflow.log_metrics(flat_metrics(model.metrics))
    for target, regressor in model.regressors.items():
        mlflow.sklearn.log_model(
            regressor,
            name=f"{target}_model",
            signature=infer_signature(example_features, regressor.predict(example_features)),
            input_example=example_features,
            registered_model_name=f"{REGISTERED_MODEL_PREFIX}-{target}",
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
        )


def log_reports(reports: list[Path]) -> None:
    import mlflow

    for report in reports:
        mlflow.log_artifact(str(report), artifact_path="reports")
