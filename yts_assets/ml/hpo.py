"""Hyperparameter search with Optuna, nested inside the reported CV so it never scores on its folds.

For each target and each outer fold k of the reported K-fold CV, a study searches on the
training rows of fold k only (inner 3-fold CV); fold k of the reported metrics then uses
those parameters. One more study per target searches all rows for the refit. Studies live in
an Optuna storage (SQLite under artifacts/optuna/ by default, or any SQLAlchemy URL such as
Postgres), keyed by target, fold and data hash, so a repeated search resumes and several
processes or machines can add trials to the same studies at once.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .features import CONTRACT_SCHEMA, TARGETS
from .models import FeatureEncoder
from .training import TUNABLE, TargetData, TrainingConfig, load_openmp, make_regressor, outer_folds, with_params

INNER_FOLDS = 3
SEARCH_SPACE = {
    "max_iter": {"low": 30, "high": 200, "type": "int"},
    "learning_rate": {"low": 0.02, "high": 0.3, "type": "float", "log": True},
    "max_leaf_nodes": {"low": 4, "high": 31, "type": "int"},
    "min_samples_leaf": {"low": 5, "high": 60, "type": "int"},
    "l2_regularization": {"low": 1e-3, "high": 10.0, "type": "float", "log": True},
}
assert set(SEARCH_SPACE) == set(TUNABLE)
# How long an SQLite writer waits for another process's lock before "database is locked" (sqlite3's busy timeout).
SQLITE_BUSY_TIMEOUT_SECONDS = 60.0
STORAGE_ATTEMPTS = 3
NOT_REQUESTED = {"searched": False, "reason": "no search requested: give hpo_study run config n_trials, or set "
                                             "YTS_OPTUNA_TRIALS; supervised_bundle keeps its default parameters"}


def import_optuna():  # noqa: ANN201 - the optuna module
    """Optuna is imported only when a search runs: it costs ~0.3 s at start-up otherwise."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def default_storage_url(path: Path) -> str:
    return f"sqlite:///{path}"


def redacted(url: str) -> str:
    """The URL without its password, for reports and logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def open_storage(url: str) -> Any:  # noqa: ANN401 - an optuna.storages.RDBStorage
    """An Optuna RDB storage that several processes (or machines, on a database server) can share.

    SQLite gets a busy timeout, so concurrent writers wait for each other's lock instead of failing, and its
    folder is created; any other SQLAlchemy URL (postgresql://, mysql://) is used as it is."""
    optuna = import_optuna()
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    parsed = make_url(url)
    engine_kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        engine_kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(STORAGE_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except SQLAlchemyError:  # processes creating a new storage's tables at once: all but one fail, then find them
            if attempt == STORAGE_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def worker_name() -> str:
    """Which process ran a trial: recorded on every trial as user attr `worker`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def suggest(trial: Any) -> dict[str, Any]:
    params = {}
    for name, space in SEARCH_SPACE.items():
        if space["type"] == "int":
            params[name] = trial.suggest_int(name, space["low"], space["high"])
        else:
            params[name] = trial.suggest_float(name, space["low"], space["high"], log=space.get("log", False))
    return params


def inner_cv_score(features: np.ndarray, target: np.ndarray, config: TrainingConfig) -> float:
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold

    folds = KFold(n_splits=INNER_FOLDS, shuffle=True, random_state=config.random_seed + 1)
    scores = []
    for train_index, test_index in folds.split(features):
        model = make_regressor(config).fit(features[train_index], target[train_index])
        scores.append(r2_score(target[test_index], model.predict(features[test_index])))
    return float(np.mean(scores))


def search(processed: pd.DataFrame, config: TrainingConfig, *, n_trials: int, timeout_seconds: float,
           storage_url: str, data_tag: str, log: Callable[[str], None],
           sampler_seed: int | None = None) -> dict[str, Any]:
    """Run (or resume) every study; returns the tuned parameters and what the search saw.

    Processes that search the same studies at once should each get their own `sampler_seed` (default: the
    training seed), or they propose the same first parameters."""
    optuna = import_optuna()
    storage = open_storage(storage_url)
    worker = worker_name()
    seed = config.random_seed if sampler_seed is None else sampler_seed
    encoder = FeatureEncoder.fit(processed)
    deadline = time.monotonic() + timeout_seconds
    studies_left = len(TARGETS) * (config.cv_folds + 1)
    results: dict[str, Any] = {}
    load_openmp()
    with threadpool_limits(limits=1):
        for target, column in TARGETS.items():
            data = TargetData.of(encoder, processed, target).sample(config.cv_max_rows, config.random_seed)  # as the CV
            features, labels = data.columns(CONTRACT_SCHEMA), data.log_target  # searched on the contract inputs
            scopes = [(f"fold{k}", train_index) for k, (train_index, _) in enumerate(outer_folds(data.rows, config))]
            scopes.append(("refit", np.arange(data.rows)))
            target_results: dict[str, Any] = {"folds": []}
            for scope, train_index in scopes:
                study = optuna.create_study(
                    study_name=f"yts-{target}-{scope}-{data_tag}", storage=storage, load_if_exists=True,
                    direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
                )
                X, y = features[train_index], labels[train_index]

                def objective(trial: Any, X: np.ndarray = X, y: np.ndarray = y) -> float:
                    trial.set_user_attr("worker", worker)
                    return inner_cv_score(X, y, with_params(config, suggest(trial)))

                def progress(study: Any, trial: Any, target: str = target, scope: str = scope) -> None:
                    log(f"{target}/{scope}: trial {trial.number} inner-CV log R² {trial.value:.4f} "
                        f"(best {study.best_value:.4f})")

                remaining = n_trials
                if not study.trials:  # a new study always gets one trial, so it has a best
                    study.optimize(objective, n_trials=1, callbacks=[progress])
                    remaining -= 1
                budget = max(deadline - time.monotonic(), 0.0) / studies_left
                if remaining > 0 and budget > 0:
                    study.optimize(objective, n_trials=remaining, timeout=budget, callbacks=[progress])
                studies_left -= 1
                summary = {"study": study.study_name, "best_params": study.best_params,
                           "best_inner_log_r2": study.best_value, "trials": len(study.trials)}
                if scope == "refit":
                    target_results["refit"] = summary
                else:
                    target_results["folds"].append(summary)
            results[target] = target_results
    return {
        "searched": True,
        "data_tag": data_tag,
        "cv_folds": config.cv_folds,
        "random_seed": config.random_seed,
        "inner_folds": INNER_FOLDS,
        "search_space": SEARCH_SPACE,
        "trials_per_study": n_trials,
        "storage": redacted(storage_url),
        "targets": results,
    }


def data_tag(processed_sha256: str, config: TrainingConfig) -> str:
    """Studies and results belong to one processed table and one outer CV."""
    return f"{processed_sha256[:12]}-k{config.cv_folds}-s{config.random_seed}"


def tuned_parameters(study: dict[str, Any] | None, config: TrainingConfig, data_tag: str) -> dict[str, Any] | None:
    """The search's parameters in train_supervised's shape, or None when they do not fit this data and CV."""
    matches = bool(study) and (study.get("data_tag"), study.get("cv_folds"), study.get("random_seed")) == (
        data_tag, config.cv_folds, config.random_seed)
    if not matches:
        return None
    return {target: {"folds": [f["best_params"] for f in result["folds"]], "refit": result["refit"]["best_params"]}
            for target, result in study["targets"].items()}
