"""Supervised models: per input schema, one regressor per target, K-fold CV beside a constant-median baseline,
conformal prediction intervals, and metrics on the segment of each target that matters."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from threadpoolctl import threadpool_limits

from . import workers
from .features import CONTRACT_SCHEMA, EXTENDED_INPUTS, EXTENDED_SCHEMA, INPUT_SCHEMAS, SCHEMA_FEATURES, TARGETS
from .models import FeatureEncoder, SupervisedModel, SupervisedSummary

if TYPE_CHECKING:  # scikit-learn is imported when a model is fitted or scored, not with the code location
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor

MIN_CV_FOLDS = 3  # fold k's interval is calibrated on fold k+1 by a model fitted on the others
PARALLEL_FIT_ROWS = 50_000  # from this many rows a final fit uses every core (OpenMP); below, one is faster
# The rows each target's honest metrics are computed on (labels > 0: percentage errors are defined there).
SEGMENTS = {
    "subscribers": "all channels (every channel has subscribers > 0)",
    "earnings": "earners: channels with yearly earnings > 0 (zero earners are scored separately)",
    "growth": "channels with a known, positive 30-day growth",
}


@dataclass(frozen=True)
class TrainingConfig:
    cv_folds: int = 5
    random_seed: int = 42
    max_iter: int = 60
    learning_rate: float = 0.08
    max_leaf_nodes: int = 8
    min_samples_leaf: int = 20
    l2_regularization: float = 1.0
    interval_coverage: float = 0.8
    tuning_noise_k: float = 2.0
    # Past these sizes a seeded random sample is statistically enough (a CV R² or a coverage from 10,000 rows is
    # within about 0.01 of the full table's), and training stays linear in rows: CV and permutation importance
    # run on the sample, the final model on every row. The metrics say when they were sampled.
    cv_max_rows: int = 10_000
    importance_max_rows: int = 2_000

    def __post_init__(self) -> None:
        if self.cv_folds < MIN_CV_FOLDS:
            raise ValueError(f"cv_folds is {self.cv_folds}: at least {MIN_CV_FOLDS} are needed (each fold's interval "
                             "is calibrated on another fold, by a model fitted on the rest)")
        if not 0.5 <= self.interval_coverage < 1:
            raise ValueError(f"interval_coverage is {self.interval_coverage}: give a nominal coverage in [0.5, 1)")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class TargetResult:
    target: str
    schema: str
    column: str
    rows: int
    model_metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    fold_metrics: list[dict[str, float]]
    fold_assignment_sha256: str
    segment: dict[str, Any]
    interval: dict[str, Any]
    zero_labels: dict[str, Any] | None = None
    tuning: dict[str, Any] | None = None
    sampling: dict[str, Any] | None = None
    oof_log_predictions: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    log_actual: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))


@dataclass(frozen=True)
class TargetData:
    """One target's usable rows, encoded once with every input (each schema reads a prefix of the columns)."""

    target: str
    column: str
    features: np.ndarray
    log_target: np.ndarray

    @classmethod
    def of(cls, encoder: FeatureEncoder, processed: pd.DataFrame, target: str) -> "TargetData":
        column = TARGETS[target]
        rows = processed[usable_rows(processed, column)]
        return cls(target, column, encoder.encode(rows), np.log1p(rows[column].to_numpy(dtype=float)))

    @property
    def rows(self) -> int:
        return len(self.log_target)

    def columns(self, schema: str) -> np.ndarray:
        return self.features[:, :len(SCHEMA_FEATURES[schema])]

    def sample(self, max_rows: int, seed: int) -> "TargetData":
        """At most `max_rows` rows, drawn without replacement by `seed` (kept in table order); itself when smaller."""
        if self.rows <= max_rows:
            return self
        chosen = np.sort(np.random.default_rng(seed).choice(self.rows, size=max_rows, replace=False))
        return TargetData(self.target, self.column, self.features[chosen], self.log_target[chosen])


TUNABLE = ("max_iter", "learning_rate", "max_leaf_nodes", "min_samples_leaf", "l2_regularization")


def outer_folds(rows: int, config: TrainingConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """The K folds behind every reported metric; hyperparameter search reuses them, never their test parts."""
    from sklearn.model_selection import KFold

    return list(KFold(n_splits=config.cv_folds, shuffle=True, random_state=config.random_seed).split(np.arange(rows)))


def fold_assignment_sha256(folds: list[tuple[np.ndarray, np.ndarray]]) -> str:
    digest = hashlib.sha256()
    for _, test_index in folds:
        digest.update(np.sort(test_index).tobytes())
    return digest.hexdigest()


def with_params(config: TrainingConfig, params: dict[str, Any] | None) -> TrainingConfig:
    return replace(config, **{k: v for k, v in (params or {}).items() if k in TUNABLE})


def load_openmp() -> None:
    """Import scikit-learn's gradient boosting, which loads OpenMP: a thread limit set before that limits nothing."""
    import sklearn.ensemble  # noqa: F401


@contextlib.contextmanager
def one_thread_per_fit() -> Iterator[None]:
    """Around jobs given to workers.run_all: workers already fit on one thread each, and this process then need not
    import scikit-learn; in this process, one OpenMP thread per fit."""
    if workers.running():
        yield
        return
    load_openmp()
    with threadpool_limits(limits=1):
        yield


def make_regressor(config: TrainingConfig) -> HistGradientBoostingRegressor:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(
        max_iter=config.max_iter,
        learning_rate=config.learning_rate,
        max_leaf_nodes=config.max_leaf_nodes,
        min_samples_leaf=config.min_samples_leaf,
        l2_regularization=config.l2_regularization,
        # Category and country enter as ordinal codes, not native categoricals: native support runs a
        # ColumnTransformer on every predict (1.1 ms for one row, against 0.4 ms), for ~0.01 of CV R².
        categorical_features=None,
        early_stopping=False,
        random_state=config.random_seed,
    )


def regression_metrics(log_actual: np.ndarray, log_predicted: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R² in log1p space and in raw space."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    actual, predicted = np.expm1(log_actual), np.expm1(log_predicted)
    return {
        "log_mae": float(mean_absolute_error(log_actual, log_predicted)),
        "log_rmse": float(np.sqrt(mean_squared_error(log_actual, log_predicted))),
        "log_r2": float(r2_score(log_actual, log_predicted)),
        "mae": float(mean_absolute_error(actual, predicted)),
        "rmse": float(np.sqrt(mean_squared_error(actual, predicted))),
        "r2": float(r2_score(actual, predicted)),
    }



def usable_rows(processed: pd.DataFrame, column: str) -> pd.Series:
    """Rows with a known, non-negative label (growth: never filled with zero)."""
    return processed[column].notna() & (processed[column] >= 0)


def available_schemas(processed: pd.DataFrame) -> tuple[str, ...]:
    """The contract schema always; the extended one when the data has every optional input."""
    extended = all(column in processed and processed[column].notna().any() for column in EXTENDED_INPUTS.values())
    return (CONTRACT_SCHEMA, EXTENDED_SCHEMA) if extended else (CONTRACT_SCHEMA,)


def conformal_half_width(residuals: np.ndarray, coverage: float) -> float:
    """Split-conformal half-width (log1p space) from calibration residuals, by crepes' ConformalRegressor."""
    from crepes import ConformalRegressor

    interval = ConformalRegressor().fit(residuals=np.asarray(residuals, dtype=float)).predict_int(
        np.zeros(1), confidence=coverage)
    half_width = float(interval[0, 1])
    if not np.isfinite(half_width):
        raise ValueError(f"{len(residuals)} calibration residuals are too few for a {coverage:.0%} interval")
    return half_width


def percentage_error(log_actual: np.ndarray, log_predicted: np.ndarray) -> float:
    """Median absolute percentage error in raw units (labels > 0 only)."""
    actual = np.expm1(log_actual)
    return float(np.median(np.abs(np.expm1(log_predicted) - actual) / actual))


def segment_metrics(target: str, log_actual: np.ndarray, model: np.ndarray, baseline: np.ndarray) -> dict[str, Any]:
    """Log R² and median absolute percentage error on the rows whose label is > 0, model beside baseline."""
    from sklearn.metrics import r2_score

    rows = log_actual > 0

    def scores(predicted: np.ndarray) -> dict[str, float]:
        return {"log_r2": float(r2_score(log_actual[rows], predicted[rows])),
                "mdape": percentage_error(log_actual[rows], predicted[rows])}

    return {"name": SEGMENTS[target], "rows": int(rows.sum()), "model": scores(model), "baseline": scores(baseline)}


def zero_label_metrics(log_actual: np.ndarray, model: np.ndarray, lower: np.ndarray) -> dict[str, Any] | None:
    """How well channels whose label is 0 (zero earners) are recognised: ROC AUC of the prediction as a score
    of 'label > 0', and the share of them whose interval reaches 0."""
    from sklearn.metrics import roc_auc_score

    zero = log_actual <= 0
    if not zero.any() or zero.all():
        return None
    return {"rows": int(zero.sum()), "roc_auc": float(roc_auc_score(~zero, model)),
            "interval_includes_zero": float(np.mean(lower[zero] <= 0))}


def cross_validate(data: TargetData, schema: str, config: TrainingConfig,
                   fold_params: list[dict[str, Any]] | None = None) -> TargetResult:
    """K-fold CV of one schema's model beside the constant-median baseline; fold k may use its own tuned
    parameters. Fold k's interval is calibrated on fold k+1, scored by a model fitted on the other folds, so
    no row of fold k calibrates the interval that fold k's coverage is measured on."""
    from sklearn.metrics import r2_score

    features, log_target = data.columns(schema), data.log_target
    folds = outer_folds(len(log_target), config)
    oof_model, oof_baseline = np.empty_like(log_target), np.empty_like(log_target)
    half_widths = np.empty_like(log_target)
    fold_metrics: list[dict[str, float]] = []
    for fold, (train_index, test_index) in enumerate(folds):
        fold_config = with_params(config, fold_params[fold] if fold_params else None)
        model = make_regressor(fold_config).fit(features[train_index], log_target[train_index])
        oof_model[test_index] = model.predict(features[test_index])
        oof_baseline[test_index] = np.median(log_target[train_index])
        calibration = folds[(fold + 1) % len(folds)][1]
        proper = np.setdiff1d(train_index, calibration)
        calibrator = make_regressor(fold_config).fit(features[proper], log_target[proper])
        half_width = conformal_half_width(log_target[calibration] - calibrator.predict(features[calibration]),
                                          config.interval_coverage)
        half_widths[test_index] = half_width
        covered = np.abs(log_target[test_index] - oof_model[test_index]) <= half_width
        fold_metrics.append({
            "fold": fold,
            "log_r2": float(r2_score(log_target[test_index], oof_model[test_index])),
            "baseline_log_r2": float(r2_score(log_target[test_index], oof_baseline[test_index])),
            "interval_coverage": float(covered.mean()),
            "interval_half_width_log": half_width,
        })
    lower, upper = oof_model - half_widths, oof_model + half_widths
    raw_width = np.expm1(upper) - np.clip(np.expm1(lower), 0, None)
    return TargetResult(
        target=data.target, schema=schema, column=data.column, rows=len(log_target),
        model_metrics=regression_metrics(log_target, oof_model),
        baseline_metrics=regression_metrics(log_target, oof_baseline),
        fold_metrics=fold_metrics, fold_assignment_sha256=fold_assignment_sha256(folds),
        segment=segment_metrics(data.target, log_target, oof_model, oof_baseline),
        interval={"nominal_coverage": config.interval_coverage,
                  "coverage": float(np.mean((log_target >= lower) & (log_target <= upper))),
                  "median_width": float(np.median(raw_width)), "median_width_log": float(np.median(upper - lower)),
                  "calibration": "split conformal per fold: calibrated on the next fold by a model fitted on the rest"},
        zero_labels=zero_label_metrics(log_target, oof_model, lower),
        oof_log_predictions=oof_model, log_actual=log_target,
    )


def sampling_note(rows: int, cv_rows: int, importance_rows: int) -> dict[str, Any]:
    """How many rows the final model, the CV and the permutation importance used."""
    return {"usable_rows": rows, "cv_rows": cv_rows, "importance_rows": min(rows, importance_rows),
            "note": ("every usable row" if cv_rows == rows else
                     f"CV, intervals' calibration and metrics on a seeded random sample of {cv_rows:,} of {rows:,} "
                     f"usable rows (statistically enough); the final model on all {rows:,}")}


def tuning_decision(tuned: TargetResult, defaults: TargetResult, noise_k: float) -> dict[str, Any]:
    """Tuned parameters earn their place only when their nested-CV log R² beats the defaults' on the same outer
    folds by more than `noise_k` standard errors of the paired per-fold differences."""
    differences = np.array([t["log_r2"] - d["log_r2"] for t, d in zip(tuned.fold_metrics, defaults.fold_metrics)])
    mean = float(differences.mean())
    se = float(differences.std(ddof=1) / np.sqrt(len(differences)))
    adopted = mean > 0 and mean > noise_k * se
    reason = (f"tuned parameters beat the defaults by {mean:+.4f} mean fold log R² (> {noise_k:g} x SE {se:.4f})"
              if adopted else
              f"defaults kept: tuned parameters scored {mean:+.4f} mean fold log R² against the defaults on the "
              f"same folds, not more than {noise_k:g} x SE {se:.4f}")
    return {"adopted": adopted, "mean_difference": round(mean, 4), "standard_error": round(se, 4),
            "tuned_log_r2": round(tuned.model_metrics["log_r2"], 4),
            "default_log_r2": round(defaults.model_metrics["log_r2"], 4), "reason": reason}


@dataclass
class FittedTarget:
    """One schema's model of one target: its CV record, the final model (pickled where it was fitted: a worker
    process's result then reaches the run process without scikit-learn), its interval and importances."""

    result: TargetResult
    model_pickle: bytes
    half_width: float
    refit_params: dict[str, Any]
    importance: dict[str, dict[str, float]]

    def model(self) -> HistGradientBoostingRegressor:
        return pickle.loads(self.model_pickle)  # noqa: S301 - made by fit_target in this run, never read from a file


def fit_target(data: TargetData, schema: str, config: TrainingConfig,
               tuning: dict[str, Any] | None = None) -> FittedTarget:
    """CV (defaults, and tuned parameters when given: the better on the same folds wins, see tuning_decision),
    the final fit on every usable row, its conformal half-width from the out-of-fold residuals, importances."""
    cv_data = data.sample(config.cv_max_rows, config.random_seed)
    result = cross_validate(cv_data, schema, config)
    refit_config = config
    if tuning:
        tuned_result = cross_validate(cv_data, schema, config, tuning["folds"])
        decision = tuning_decision(tuned_result, result, config.tuning_noise_k)
        if decision["adopted"]:
            result, refit_config = tuned_result, with_params(config, tuning["refit"])
        result.tuning = decision
    every_core = data.rows >= PARALLEL_FIT_ROWS and not workers.in_worker()
    with threadpool_limits(limits=(os.cpu_count() or 1) if every_core else 1):
        model = make_regressor(refit_config).fit(data.columns(schema), data.log_target)
    half_width = conformal_half_width(result.log_actual - result.oof_log_predictions, config.interval_coverage)
    result.interval["half_width_log"] = half_width
    result.sampling = sampling_note(data.rows, cv_data.rows, config.importance_max_rows)
    return FittedTarget(result, pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL), half_width,
                        {k: getattr(refit_config, k) for k in TUNABLE}, permutation_importances(model, data, schema, config))


@dataclass
class SupervisedFit:
    """Every (schema, target) fit of a training, before the model is put together (assemble_supervised)."""

    encoder: FeatureEncoder
    config: TrainingConfig
    tuned: dict[str, Any] | None
    jobs: list[tuple[str, str]]  # (schema, target), in the order of `fitted`
    fitted: list[FittedTarget]

    @property
    def schemas(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(schema for schema, _ in self.jobs))

    def by_schema(self, value: Callable[[FittedTarget], Any]) -> dict[str, dict[str, Any]]:
        grouped: dict[str, dict[str, Any]] = {schema: {} for schema in self.schemas}
        for (schema, target), one in zip(self.jobs, self.fitted):
            grouped[schema][target] = value(one)
        return grouped

    @property
    def results(self) -> dict[str, dict[str, TargetResult]]:
        return self.by_schema(lambda one: one.result)

    def summary(self) -> SupervisedSummary:
        """What the model will say of itself (its metrics, hyperparameters, configuration), without the model."""
        results, refit = self.results, self.by_schema(lambda one: one.refit_params)
        adopted = [f"{s}/{t}" for s, by_target in results.items() for t, r in by_target.items()
                   if r.tuning and r.tuning["adopted"]]
        return SupervisedSummary(
            schemas=self.schemas,
            interval_coverage=self.config.interval_coverage,
            metrics={s: {t: summarize_result(r) for t, r in by_target.items()} for s, by_target in results.items()},
            hyperparameters={
                "source": "optuna" if adopted else "defaults",
                "refit": refit[CONTRACT_SCHEMA],
                "refit_by_schema": refit,
                "folds": {t: v.get("folds") for t, v in (self.tuned or {}).items()},
                "searched": self.tuned is not None,
                "adopted": adopted,
                "decisions": {s: {t: r.tuning for t, r in by_target.items() if r.tuning}
                              for s, by_target in results.items()},
            },
            config=self.config.as_dict(),
        )


def fit_supervised(processed: pd.DataFrame, config: TrainingConfig,
                   tuned: dict[str, Any] | None = None) -> SupervisedFit:
    """Per input schema and target: CV, then a refit on all usable rows, with a conformal interval calibrated on
    the CV's out-of-fold residuals.

    `tuned` (from the hyperparameter search) gives, per target, parameters for each CV fold (searched on that
    fold's training rows only) and for the refit; they replace the defaults only where tuning_decision says so.
    """
    encoder = FeatureEncoder.fit(processed)
    data = {target: TargetData.of(encoder, processed, target) for target in TARGETS}
    jobs = [(schema, target) for schema in available_schemas(processed) for target in TARGETS]
    # On ~1,000 rows OpenMP thread start-up costs more than it saves; only large final fits use every core, or the
    # jobs spread over the worker processes when a pool runs (workers.py).
    with one_thread_per_fit():
        fitted = workers.run_all(fit_target, [(data[target], schema, config, (tuned or {}).get(target))
                                              for schema, target in jobs])
    return SupervisedFit(encoder, config, tuned, jobs, fitted)


def assemble_supervised(fit: SupervisedFit) -> SupervisedModel:
    summary = fit.summary()
    return SupervisedModel(
        encoder=fit.encoder,
        regressors=fit.by_schema(FittedTarget.model),
        intervals=fit.by_schema(lambda one: one.half_width),
        interval_coverage=summary.interval_coverage,
        metrics=summary.metrics,
        hyperparameters=summary.hyperparameters,
        config=summary.config,
        feature_importance=fit.by_schema(lambda one: one.importance),
    )


def serialize_supervised(fit: SupervisedFit) -> tuple[bytes, bytes]:
    """The model's two file forms (see _SavedModel.serialize), put together where this runs: in a worker process
    when a pool runs, so that the run process need not import scikit-learn."""
    return assemble_supervised(fit).serialize()


def train_supervised(processed: pd.DataFrame, config: TrainingConfig,
                     tuned: dict[str, Any] | None = None) -> tuple[SupervisedModel, dict[str, dict[str, TargetResult]]]:
    """fit_supervised, then the model. Returns (model, CV results by schema and target)."""
    fit = fit_supervised(processed, config, tuned)
    return assemble_supervised(fit), fit.results


def score_configuration(processed: pd.DataFrame, config: TrainingConfig, training_config: dict[str, Any],
                        refit_by_schema: dict[str, dict[str, dict[str, Any]]],
                        schemas: tuple[str, ...]) -> dict[str, dict[str, TargetResult]]:
    """Another run's configuration (its training config, then its per-schema, per-target refit parameters) scored
    on `config`'s outer folds of `processed`: how a champion is compared with a candidate on the same folds."""
    encoder = FeatureEncoder.fit(processed)
    base = with_params(config, training_config)
    data = {target: TargetData.of(encoder, processed, target).sample(config.cv_max_rows, config.random_seed)
            for target in TARGETS}
    jobs = [(schema, target) for schema in schemas for target in TARGETS]
    with one_thread_per_fit():
        scored = workers.run_all(cross_validate, [
            (data[target], schema, with_params(base, refit_by_schema.get(schema, {}).get(target)))
            for schema, target in jobs])
    by_schema: dict[str, dict[str, TargetResult]] = {schema: {} for schema in schemas}
    for (schema, target), result in zip(jobs, scored):
        by_schema[schema][target] = result
    return by_schema


def permutation_importances(model: HistGradientBoostingRegressor, data: TargetData, schema: str,
                            config: TrainingConfig) -> dict[str, dict[str, float]]:
    """Drop in log-space R² when one input is shuffled, on the training rows (at most config.importance_max_rows of
    them, sampled), per input of the schema."""
    from sklearn.inspection import permutation_importance

    rows = data.sample(config.importance_max_rows, config.random_seed)
    result = permutation_importance(model, rows.columns(schema), rows.log_target, n_repeats=5,
                                    random_state=config.random_seed, n_jobs=1)
    return {name: {"importance": round(float(mean), 5), "std": round(float(std), 5)}
            for name, mean, std in zip(INPUT_SCHEMAS[schema], result.importances_mean, result.importances_std)}


def summarize_result(result: TargetResult) -> dict[str, object]:
    summary = {
        "column": result.column,
        "schema": result.schema,
        "rows": result.rows,
        "model": result.model_metrics,
        "baseline": result.baseline_metrics,
        "skill_log_r2": result.model_metrics["log_r2"] - result.baseline_metrics["log_r2"],
        "segment": result.segment,
        "interval": result.interval,
        "folds": result.fold_metrics,
        "fold_assignment_sha256": result.fold_assignment_sha256,
    }
    if result.zero_labels:
        summary["zero_labels"] = result.zero_labels
    if result.tuning:
        summary["tuning"] = result.tuning
    if result.sampling:
        summary["sampling"] = result.sampling
    return summary
