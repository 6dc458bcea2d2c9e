"""Model assets: supervised regressors, clustering, and the metrics report."""


from typing import TypeVar

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from ...core import config as env
from ...core.files import read_json, sha256_file, write_csv, write_json
from ...core.manifest import code_version
from ...lineage import input_paths, output_paths, producing_run
from ...metadata import column_schema, file_metadata, metrics_markdown, png_markdown, table_metadata
from ...ml import hpo, workers
from ...ml.clustering import CLUSTERING_COLUMNS, GROWTH_HANDLING, ClusteringConfig, fit_clustering
from ...ml.dataset import read_processed
from ...ml.experiment import log_dataset, log_supervised, model_example
from ...ml.features import CONTRACT_SCHEMA, INPUT_SCHEMAS, NEAR_DETERMINISTIC_NOTE, SCHEMA_FEATURES
from ...ml.models import ClusteringModel, SupervisedModel, write_model_files
from ...ml.plots import clusters_png, predicted_vs_actual_png
from ...ml.training import MIN_CV_FOLDS, TrainingConfig, fit_supervised, serialize_supervised
from ...resources import YtsSettings
from ...tracking import ExperimentTracking
from ..conditions import AFTER_UPSTREAM_PASSES, AFTER_UPSTREAM_PASSES_HPO_OPTIONAL

GROUP = "models"
T = TypeVar("T")
TRAINING_DEFAULTS = TrainingConfig()
CLUSTERING_DEFAULTS = ClusteringConfig()


def env_default(variable: env.Variable, built_in: object) -> str:
    return f"Default {variable.name}, else {built_in}."


class SupervisedConfig(Config):
    cv_folds: int = Field(default=TRAINING_DEFAULTS.cv_folds, description=(
        f"outer CV folds, at least {MIN_CV_FOLDS}: fold k's interval is calibrated on fold k+1"))
    random_seed: int | None = Field(default=None, description=env_default(env.RANDOM_STATE, TRAINING_DEFAULTS.random_seed))
    max_iter: int | None = Field(default=None, description=env_default(env.N_ESTIMATORS, TRAINING_DEFAULTS.max_iter))
    learning_rate: float = TRAINING_DEFAULTS.learning_rate
    max_leaf_nodes: int = TRAINING_DEFAULTS.max_leaf_nodes
    min_samples_leaf: int | None = Field(default=None, description=env_default(env.MIN_SAMPLES_LEAF,
                                                                               TRAINING_DEFAULTS.min_samples_leaf))
    l2_regularization: float = TRAINING_DEFAULTS.l2_regularization
    interval_coverage: float | None = Field(default=None, ge=0.5, lt=1.0, description=env_default(
        env.INTERVAL_COVERAGE, TRAINING_DEFAULTS.interval_coverage) + " Nominal coverage of every prediction interval.")
    tuning_noise_k: float = Field(default=TRAINING_DEFAULTS.tuning_noise_k, ge=0, description=(
        "standard errors of the paired per-fold log R² gain that tuned parameters must exceed to replace the defaults"))


class HpoConfig(Config):
    n_trials: int | None = Field(default=None, ge=1, description=(
        "New trials per study; default YTS_OPTUNA_TRIALS. With neither, no search runs: selecting hpo_study "
        "(or '*') records 'no search requested' and supervised_bundle keeps its defaults."))
    timeout_seconds: float | None = Field(default=None, gt=0, description="Budget for all studies; default "
                                                                          "YTS_OPTUNA_TIMEOUT_SECONDS or 300.")
    cv_folds: int = TRAINING_DEFAULTS.cv_folds
    random_seed: int | None = Field(default=None, description=env_default(env.RANDOM_STATE, TRAINING_DEFAULTS.random_seed))


class ClusteringRunConfig(Config):
    kmeans_clusters: int | None = Field(default=None, description=env_default(env.N_CLUSTERS,
                                                                              CLUSTERING_DEFAULTS.kmeans_clusters))
    dbscan_eps: float | None = Field(default=None, description=env_default(env.DBSCAN_EPS, CLUSTERING_DEFAULTS.dbscan_eps))
    dbscan_min_samples: int | None = Field(default=None, description=env_default(env.DBSCAN_MIN_SAMPLES,
                                                                                 CLUSTERING_DEFAULTS.dbscan_min_samples))
    random_seed: int | None = Field(default=None, description=env_default(env.RANDOM_STATE,
                                                                          CLUSTERING_DEFAULTS.random_seed))


def resolved(run_config: dict[str, object], cls: type[T], variables: dict[str, env.Variable]) -> T:
    """Run config first, then the original platform's environment variables, then the built-in defaults."""
    values = {name: variable.get() for name, variable in variables.items()}
    values.update({name: value for name, value in run_config.items() if value is not None})
    return cls(**{name: value for name, value in values.items() if value is not None})


TRAINING_VARIABLES = {"random_seed": env.RANDOM_STATE, "max_iter": env.N_ESTIMATORS,
                      "min_samples_leaf": env.MIN_SAMPLES_LEAF, "interval_coverage": env.INTERVAL_COVERAGE}
CLUSTERING_VARIABLES = {"random_seed": env.RANDOM_STATE, "kmeans_clusters": env.N_CLUSTERS,
                        "dbscan_eps": env.DBSCAN_EPS, "dbscan_min_samples": env.DBSCAN_MIN_SAMPLES}


@asset(
    group_name="tuning",
    deps=["processed_channels"],
    kinds={"optuna", "json"},
    code_version="1",
    description="Opt-in Optuna search per target, nested in the reported CV: fold k's parameters are searched on "
                "fold k's training rows only (inner 3-fold CV), the refit's on all rows. It searches only when "
                "asked: run config n_trials or YTS_OPTUNA_TRIALS; otherwise (e.g. --select '*') it records 'no "
                "search requested' in a second. Studies in SQLite under artifacts/optuna/ or YTS_OPTUNA_STORAGE (they "
                "resume, and other processes may add trials); results "
                "in the run's reports/optuna_study.json. supervised_bundle applies them per target and schema only "
                "where they beat the defaults on the same outer folds.",
)
def hpo_study(context: AssetExecutionContext, config: HpoConfig, settings: YtsSettings) -> MaterializeResult:
    paths = output_paths(context, settings)
    processed_csv = input_paths(context, settings, "processed_channels").processed_csv
    training = resolved({"cv_folds": config.cv_folds, "random_seed": config.random_seed}, TrainingConfig,
                        {"random_seed": env.RANDOM_STATE})
    n_trials = config.n_trials or env.OPTUNA_TRIALS.get()
    if not n_trials:
        digest = write_json(paths.optuna_study, hpo.NOT_REQUESTED)
        context.log.info(hpo.NOT_REQUESTED["reason"])
        return MaterializeResult(metadata={**file_metadata(paths.optuna_study, digest),
                                           "dagster/row_count": MetadataValue.int(0),
                                           "searched": MetadataValue.bool(False),
                                           "reason": MetadataValue.text(hpo.NOT_REQUESTED["reason"])})
    timeout = config.timeout_seconds or env.OPTUNA_TIMEOUT_SECONDS.get()
    storage_url = env.OPTUNA_STORAGE.get() or hpo.default_storage_url(paths.optuna_storage)
    study = hpo.search(read_processed(processed_csv), training, n_trials=n_trials, timeout_seconds=timeout,
                       storage_url=storage_url,
                       data_tag=hpo.data_tag(sha256_file(processed_csv), training), log=context.log.info)
    digest = write_json(paths.optuna_study, study)
    refit = {target: result["refit"] for target, result in study["targets"].items()}
    return MaterializeResult(metadata={
        **file_metadata(paths.optuna_study, digest),
        "dagster/row_count": MetadataValue.int(sum(r["trials"] for r in refit.values())),
        "searched": MetadataValue.bool(True),
        "trials_per_study": MetadataValue.int(n_trials),
        "refit_params": MetadataValue.md("| target | inner-CV log R² | trials | parameters |\n| --- | ---: | ---: | --- |\n"
                                         + "\n".join(f"| {t} | {r['best_inner_log_r2']:.3f} | {r['trials']} | "
                                                      f"`{r['best_params']}` |" for t, r in refit.items())),
    })


@asset(
    group_name=GROUP,
    automation_condition=AFTER_UPSTREAM_PASSES_HPO_OPTIONAL,
    deps=["processed_channels", hpo_study],
    kinds={"scikitlearn", "joblib"},
    code_version="1",
    description=(
        "Per input schema (contract: uploads, age, category, country; extended: + channel_type, video_views, "
        "video_views_last_30_days), one gradient-boosted regressor per target (subscribers, earnings, growth) in "
        "log1p space. K-fold CV beside a constant-median baseline on the same folds, with metrics on each target's "
        "segment (earners for earnings) and split-conformal intervals; then a refit on all usable rows, whose "
        "interval is calibrated on the CV's out-of-fold residuals. Growth uses only rows whose label is known. "
        "Tuned parameters (hpo_study) replace the defaults only where they beat them on the same outer folds."
    ),
)
def supervised_bundle(context: AssetExecutionContext, config: SupervisedConfig, settings: YtsSettings,
                      tracking: ExperimentTracking) -> MaterializeResult:
    paths = output_paths(context, settings)
    processed_csv = input_paths(context, settings, "processed_channels").processed_csv
    processed = read_processed(processed_csv)
    training = resolved(config.model_dump(), TrainingConfig, TRAINING_VARIABLES)
    study_run = producing_run(context, "hpo_study")
    study_path = settings.paths().for_run(study_run).optuna_study if study_run else None
    study = read_json(study_path) if study_path and study_path.is_file() else None
    tuned = hpo.tuned_parameters(study, training, hpo.data_tag(sha256_file(processed_csv), training))
    if study and study.get("searched", True) and not tuned:
        context.log.warning(f"{study_path} was searched on other data or folds: using the default parameters")
    fit = fit_supervised(processed, training, tuned)
    summary, results = fit.summary(), fit.results
    contract = results[CONTRACT_SCHEMA]
    plot = workers.submit(predicted_vs_actual_png, {t: (r.log_actual, r.oof_log_predictions)
                                                    for t, r in contract.items()})  # drawn while the model is saved
    # put together and serialized in a worker when a pool runs; the sha256 of supervised_model, the form yts loads
    digest = write_model_files(paths.supervised_bundle, *workers.submit(serialize_supervised, fit).result())
    if tracking.active:
        source = read_json(input_paths(context, settings, "raw_youtube_stats").raw_source)
        log_dataset(processed, source["path"], source["sha256"])
        log_supervised(SupervisedModel.load(paths.supervised_model), paths.supervised_model, model_example(processed),
                       tags={"yts_run_id": context.run.run_id, "data_sha256": source["sha256"],
                             "code_version": code_version()})
    for schema, by_target in results.items():
        for target, result in by_target.items():
            context.log.info(f"{schema}/{target}: CV log R² {result.model_metrics['log_r2']:.3f} (baseline "
                             f"{result.baseline_metrics['log_r2']:.3f}), {result.interval['nominal_coverage']:.0%} "
                             f"interval coverage {result.interval['coverage']:.3f} on {result.rows} rows")
    inputs = [c for schema in summary.schemas for c in INPUT_SCHEMAS[schema] if c in processed]
    return MaterializeResult(metadata={
        **file_metadata(paths.supervised_model, digest),
        "joblib_path": MetadataValue.path(str(paths.supervised_bundle)),
        "dagster/row_count": MetadataValue.int(len(processed)),
        "dagster/column_schema": MetadataValue.table_schema(column_schema(processed[list(dict.fromkeys(inputs))])),
        "input_schemas": MetadataValue.json({s: list(INPUT_SCHEMAS[s]) for s in summary.schemas}),
        "encoded_features": MetadataValue.json({s: list(SCHEMA_FEATURES[s]) for s in summary.schemas}),
        "cv_metrics": metrics_markdown(summary.metrics),
        "interval_coverage": MetadataValue.float(training.interval_coverage),
        "hyperparameters": MetadataValue.json(summary.hyperparameters["refit_by_schema"]),
        "hyperparameter_source": MetadataValue.text(summary.hyperparameter_source),
        "tuning_decisions": MetadataValue.json(summary.hyperparameters["decisions"]),
        "mlflow_run_id": MetadataValue.text(tracking.mlflow_run_id or "tracking off"),
        **{f"log_r2_{t}": MetadataValue.float(r.model_metrics["log_r2"]) for t, r in contract.items()},
        **{f"{s}_log_r2_{t}": MetadataValue.float(r.model_metrics["log_r2"])
           for s, by_target in results.items() if s != CONTRACT_SCHEMA for t, r in by_target.items()},
        "note": MetadataValue.text(NEAR_DETERMINISTIC_NOTE),
        "predicted_vs_actual": png_markdown(plot.result(), "out-of-fold predictions against labels (contract inputs)"),
    })


@asset(
    group_name=GROUP,
    automation_condition=AFTER_UPSTREAM_PASSES,
    deps=["processed_channels"],
    kinds={"scikitlearn", "joblib", "csv"},
    code_version="1",
    description=f"KMeans and DBSCAN over scaled log1p uploads, subscribers, earnings and growth; {GROWTH_HANDLING}. "
                "Writes the bundle and clustered_channels.csv with named archetypes.",
)
def clustering_bundle(context: AssetExecutionContext, config: ClusteringRunConfig, settings: YtsSettings) -> MaterializeResult:
    paths = output_paths(context, settings)
    processed = read_processed(input_paths(context, settings, "processed_channels").processed_csv, CLUSTERING_COLUMNS)
    fitted = workers.submit(fit_clustering, processed,
                            resolved(config.model_dump(), ClusteringConfig, CLUSTERING_VARIABLES)).result()
    table = fitted.table
    plot = workers.submit(clusters_png, np.log1p(table["uploads"].clip(lower=0).to_numpy(float)),
                          np.log1p(table["earnings"].clip(lower=0).to_numpy(float)),
                          table["archetype"].tolist(), "log1p uploads", "log1p highest yearly earnings")
    digest = write_model_files(paths.clustering_bundle, fitted.pickled, fitted.safe)
    table_digest = write_csv(paths.clustered_channels, table)
    profiles = pd.DataFrame(fitted.profile_rows)
    return MaterializeResult(metadata={
        **file_metadata(paths.clustering_model, digest),
        "joblib_path": MetadataValue.path(str(paths.clustering_bundle)),
        "clustered_channels_path": MetadataValue.path(str(paths.clustered_channels)),
        "clustered_channels_sha256": MetadataValue.text(table_digest),
        **table_metadata(table),
        "profiles": MetadataValue.md(profiles.to_markdown(index=False, floatfmt=".0f")),
        "dbscan": MetadataValue.json(fitted.dbscan_summary),
        "clusters": png_markdown(plot.result(), "KMeans archetypes"),
    })


@asset(
    group_name=GROUP,
    automation_condition=AFTER_UPSTREAM_PASSES,
    deps=["supervised_bundle", "clustering_bundle"],
    kinds={"json"},
    code_version="1",
    description="CV metrics of every target beside the baseline, and the clustering summary, as JSON.",
)
def training_metrics(context: AssetExecutionContext, settings: YtsSettings) -> MaterializeResult:
    paths = output_paths(context, settings)
    # both loaded in workers when a pool runs: the run process need not import scikit-learn
    loading = workers.submit(SupervisedModel.describe,
                             input_paths(context, settings, "supervised_bundle").supervised_model)
    clustering = workers.submit(ClusteringModel.describe,
                                input_paths(context, settings, "clustering_bundle").clustering_model).result()
    supervised = loading.result()
    report = {
        "config": {"supervised": supervised.config, "clustering": clustering["config"]},
        "hyperparameters": supervised.hyperparameters,
        "supervised": supervised.contract_metrics,  # the original platform's inputs, as before input schemas
        "supervised_by_schema": supervised.metrics,
        "interval_coverage": supervised.interval_coverage,
        "clustering": clustering["summary"],
    }
    digest = write_json(paths.training_metrics, report)
    return MaterializeResult(metadata={
        **file_metadata(paths.training_metrics, digest),
        "dagster/row_count": MetadataValue.int(sum(len(m) for m in supervised.metrics.values())),
        "cv_metrics": metrics_markdown(supervised.metrics),
    })
