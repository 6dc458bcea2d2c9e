"""The flattened trees predict what scikit-learn predicts, on the whole real dataset and for both input schemas."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from yts_assets.ml.dataset import load_raw, process
from yts_assets.ml.models import FLATTENED_MAX_ROWS, TreeEnsembles
from yts_assets.ml.training import TrainingConfig, train_supervised


@pytest.fixture(scope="module")
def real_model(real_csv):
    processed = process(load_raw(real_csv).frame).frame
    model, _ = train_supervised(processed, TrainingConfig())
    return model, model.encoder.encode(processed)


def test_flattened_trees_equal_sklearn_on_the_whole_dataset(real_model):
    model, features = real_model
    for schema in model.schemas:
        columns = features[:, :4 if schema == "contract" else 7]
        flattened = TreeEnsembles.of(model.regressors[schema]).predict(columns)
        for target, regressor in model.regressors[schema].items():
            assert np.abs(flattened[target] - regressor.predict(columns)).max() < 1e-9, (schema, target)


def test_served_predictions_use_them_and_agree_with_sklearn(real_model):
    model, features = real_model
    for start in range(0, len(features), FLATTENED_MAX_ROWS):  # every row, through the request-sized path
        chunk = features[start:start + FLATTENED_MAX_ROWS]
        for schema in model.schemas:
            served = model.predict_log(chunk, schema)
            for target, regressor in model.regressors[schema].items():
                columns = chunk[:, :regressor.n_features_in_]
                assert np.abs(served[target] - regressor.predict(columns)).max() < 1e-9


def test_missing_values_follow_each_split_and_deep_trees_reach_their_leaves():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 5))
    X[rng.random(X.shape) < 0.2] = np.nan  # learned missing-value directions
    y = np.nan_to_num(X[:, 0]) * 3 + np.nan_to_num(X[:, 1]) ** 2 + rng.normal(size=3000)
    models = {"a": HistGradientBoostingRegressor(max_iter=30, max_leaf_nodes=63, random_state=0).fit(X, y),
              "b": HistGradientBoostingRegressor(max_iter=7, max_depth=3, random_state=0).fit(X, -y)}
    probe = rng.normal(size=(400, 5))
    probe[rng.random(probe.shape) < 0.3] = np.nan
    flattened = TreeEnsembles.of(models)
    assert flattened.depth > 6
    for name, model in models.items():
        assert np.abs(flattened.predict(probe)[name] - model.predict(probe)).max() < 1e-9


def test_categorical_splits_are_refused():
    X = np.column_stack([np.arange(200) % 4, np.arange(200)]).astype(float)
    model = HistGradientBoostingRegressor(max_iter=3, categorical_features=[0]).fit(X, X[:, 0] * 2)
    with pytest.raises(ValueError, match="categorical"):
        TreeEnsembles.of({"m": model})
