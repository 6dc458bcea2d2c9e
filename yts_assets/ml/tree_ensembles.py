"""Every tree of several HistGradientBoosting regressors, flattened into numpy arrays and walked in one pass.

scikit-learn predicts one tree at a time (a Cython call per tree, plus input validation): for one row and
three 60-tree models that is about 0.3 ms per model. Here the nodes of all trees of all models sit in one set of
arrays, and a few rows descend every tree together, one numpy step per tree level. The decision rule is
scikit-learn's for numeric splits (`_predict_one_from_raw_data`): NaN goes where the node sends missing values,
else left when x <= num_threshold. Models with categorical splits are refused (yts encodes categories as codes).
Predictions equal scikit-learn's to floating-point rounding (tests/test_tree_ensembles.py: 1e-9 on the dataset).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor


@dataclass(frozen=True)
class TreeEnsembles:
    """The flattened trees of named regressors over the same input columns."""

    names: tuple[str, ...]
    feature: np.ndarray  # per node, the input column it splits on (0 at leaves)
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray  # global node indices; a leaf points to itself
    right: np.ndarray
    value: np.ndarray  # leaf values (0 at split nodes)
    roots: np.ndarray  # per tree, its root's global index
    first_tree: np.ndarray  # per model, the index of its first tree in `roots`
    baseline: np.ndarray  # per model
    depth: int  # the deepest leaf: that many steps reach every leaf

    @classmethod
    def of(cls, models: Mapping[str, HistGradientBoostingRegressor]) -> "TreeEnsembles":
        nodes, roots, first_tree, baselines = [], [], [], []
        offset = 0
        for model in models.values():
            if model.n_trees_per_iteration_ != 1:
                raise ValueError("only single-output regressors can be flattened")
            first_tree.append(len(roots))
            baselines.append(float(np.asarray(model._baseline_prediction).ravel()[0]))
            for (predictor,) in model._predictors:
                tree = predictor.nodes
                if tree["is_categorical"].any():
                    raise ValueError("trees with categorical splits are not flattened")
                roots.append(offset)
                nodes.append((tree, offset))
                offset += len(tree)
        flat = np.concatenate([tree for tree, _ in nodes])
        shift = np.concatenate([np.full(len(tree), start, dtype=np.int64) for tree, start in nodes])
        leaf = flat["is_leaf"].astype(bool)
        own = np.arange(len(flat), dtype=np.int64)
        return cls(
            names=tuple(models),
            feature=np.where(leaf, 0, flat["feature_idx"]).astype(np.intp),
            threshold=flat["num_threshold"].astype(float),
            missing_left=flat["missing_go_to_left"].astype(bool),
            left=np.where(leaf, own, flat["left"].astype(np.int64) + shift),
            right=np.where(leaf, own, flat["right"].astype(np.int64) + shift),
            value=np.where(leaf, flat["value"], 0.0),
            roots=np.asarray(roots, dtype=np.intp),
            first_tree=np.asarray(first_tree, dtype=np.intp),
            baseline=np.asarray(baselines, dtype=float),
            depth=int(flat["depth"][leaf].max()) if leaf.any() else 0,
        )

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Raw (untransformed) predictions of every model for the rows of `features`."""
        rows = np.asarray(features, dtype=float)
        node = np.broadcast_to(self.roots, (len(rows), len(self.roots))).copy()
        row_index = np.arange(len(rows))[:, None]
        for _ in range(self.depth):
            x = rows[row_index, self.feature[node]]
            go_left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])
        sums = np.add.reduceat(self.value[node], self.first_tree, axis=1) if len(self.roots) else np.zeros(
            (len(rows), len(self.names)))
        return {name: self.baseline[i] + sums[:, i] for i, name in enumerate(self.names)}
