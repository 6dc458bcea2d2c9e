"""What a training run logs to MLflow. mlflow is imported only when tracking is on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .features import CONTRACT_SCHEMA, ENCODED_FEATURES
from .models import SupervisedModel

REGISTERED_MODEL_PREFIX = "yts"
PYFUNC_CODE = Path(__file__).with_name("mlflow_model.py")  # a model from code: MLflow pickles nothing
SKOPS_ARTIFACT = "supervised_model"  # the name mlflow_model.py loads
PIP_PACKAGES = ("mlflow", "scikit-learn", "skops", "pandas", "numpy")


def flat_metrics(metrics_by_schema: dict[str, dict[str, dict[str, Any]]]) -> dict[str, float]:
    """earnings_log_r2, earnings_baseline_log_r2, earnings_segment_mdape, earnings_interval_coverage, ... for every
    target and metric; names of schemas beyond the contract one are prefixed (extended_earnings_log_r2)."""
    flat = {}
    for schema, metrics in metrics_by_schema.items():
        prefix = "" if schema == CONTRACT_SCHEMA else f"{schema}_"
        for target, result in metrics.items():
            name = f"{prefix}{target}"
            flat |= {f"{name}_{k}": v for k, v in result["model"].items()}
            flat |= {f"{name}_baseline_{k}": v for k, v in result["baseline"].items()}
            flat[f"{name}_rows"] = result["rows"]
            if "segment" in result:
                flat |= {f"{name}_segment_{k}": v for k, v in result["segment"]["model"].items()}
                flat |= {f"{name}_segment_baseline_{k}": v for k, v in result["segment"]["baseline"].items()}
            if "interval" in result:
                flat |= {f"{name}_interval_{k}": result["interval"][k] for k in ("coverage", "median_width")}
            if "zero_labels" in result:
                flat[f"{name}_zero_roc_auc"] = result["zero_labels"]["roc_auc"]
    return flat


def log_supervised(model: SupervisedModel, skops_path: Path, example: pd.DataFrame, tags: dict[str, str]) -> None:
    """Params, CV metrics beside the baseline, and one pyfunc model per target that takes the raw inputs
    (preprocessing included), registered as `yts-<target>` with the run's tags on its version."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    mlflow.log_params({f"train_{k}": v for k, v in model.config.items()})
    mlflow.log_params({"features": ",".join(ENCODED_FEATURES), "target_transform": model.target_transform,
                       "hyperparameter_source": model.hyperparameter_source, "input_schemas": ",".join(model.schemas),
                       "interval_coverage": model.interval_coverage})
    for target, params in model.refit_parameters.items():
        mlflow.log_params({f"{target}_{k}": v for k, v in params.items()})
    mlflow.log_metrics(flat_metrics(model.metrics))
    inputs = Schema([ColSpec("long", "uploads"), ColSpec("string", "category"), ColSpec("string", "country"),
                     ColSpec("long", "age")])
    client = mlflow.MlflowClient()
    for target in model.regressors[CONTRACT_SCHEMA]:
        info = mlflow.pyfunc.log_model(
            name=f"{target}_model",
            python_model=str(PYFUNC_CODE),
            artifacts={SKOPS_ARTIFACT: str(skops_path)},
            model_config={"target": target},
            signature=ModelSignature(inputs=inputs, outputs=Schema([ColSpec("double", f"predicted_{target}")])),
            input_example=example,
            registered_model_name=registered_name(target),
            pip_requirements=pip_requirements(),
        )
        for key, value in {**tags, "gate_decision": "pending"}.items():
            client.set_model_version_tag(registered_name(target), info.registered_model_version, key, value)


def pip_requirements() -> list[str]:
    """What loading needs: yts itself (its encoder and skops loader) and the exact versions it was logged with."""
    from importlib import metadata

    return [f"yts=={metadata.version('yts')}", *(f"{name}=={metadata.version(name)}" for name in PIP_PACKAGES)]


def registered_name(target: str) -> str:
    return f"{REGISTERED_MODEL_PREFIX}-{target}"


def model_example(processed: pd.DataFrame, rows: int = 5) -> pd.DataFrame:
    """Raw input columns, as a client sends them: the input example of every logged model."""
    frame = processed[["uploads", "category", "country", "age"]].dropna().head(rows)
    return frame.astype({"uploads": "int64", "age": "int64", "category": str, "country": str}).reset_index(drop=True)


def log_dataset(processed: pd.DataFrame, source: str, data_sha256: str) -> None:
    """The training data as an MLflow dataset input: its source, the raw file's sha256 and the table's digest."""
    import mlflow

    dataset = mlflow.data.from_pandas(processed, source=source, name=f"youtube-stats-{data_sha256[:12]}")
    mlflow.log_input(dataset, context="training", tags={"data_sha256": data_sha256})


def log_reports(reports: list[Path]) -> None:
    import mlflow

    for report in reports:
        mlflow.log_artifact(str(report), artifact_path="reports")
