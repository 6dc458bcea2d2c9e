"""The MLflow pyfunc form of one yts target, logged as a model from code: nothing is pickled.

MLflow stores this file and the run's `supervised_bundle.skops`; loading runs this file, which loads the
skops bytes with yts's own loader (only trusted types). `predict` takes the raw inputs as columns
(`uploads`, `category`, `country`, `age`), applies yts's encoding, and returns the prediction in raw
units, so `mlflow.pyfunc.load_model("models:/yts-earnings@champion").predict(frame)` works on raw columns.
Loading needs the `yts` package installed (it holds the encoder and loader).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.models import set_model

SKOPS_ARTIFACT = "supervised_model"


class YtsTargetModel(mlflow.pyfunc.PythonModel):
    """One target (`model_config["target"]`) of a yts SupervisedModel, on raw input columns."""

    def load_context(self, context: Any) -> None:
        from yts_assets.ml.models import SupervisedModel

        self.target = context.model_config["target"]
        self.model = SupervisedModel.load(Path(context.artifacts[SKOPS_ARTIFACT]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        predictions = self.model.predict(model_input["uploads"], model_input["age"], model_input["category"],
                                         model_input["country"])
        return pd.DataFrame({f"predicted_{self.target}": predictions[self.target]})


set_model(YtsTargetModel())
