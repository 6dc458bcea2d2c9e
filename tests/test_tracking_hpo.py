"""MLflow tracking through dagster-mlflow against a real local store, and Optuna search as an asset."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.conftest import run_graph
from yts_assets.cli.run import failure_reasons
from yts_assets.core.files import read_json
from yts_assets.core.paths import ProjectPaths
from yts_assets.ml import hpo
from yts_assets.ml.dataset import process
from yts_assets.ml.demo import generate_demo_frame
from yts_assets.ml.models import SupervisedModel
from yts_assets.ml.training import TrainingConfig, outer_folds, usable_rows
from yts_assets.tracking import ExperimentTracking

HPO_CONFIG = {"ops": {"hpo_study": {"config": {"n_trials": 2, "timeout_seconds": 120}}}}


def mlflow_client(paths: ProjectPaths):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{paths.artifact_dir / 'mlflow' / 'mlflow.db'}")
    return mlflow.tracking.MlflowClient()


@pytest.mark.slow
def test_tracked_run_reads_back_from_mlflow(project: ProjectPaths, instance, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "yts-contract")  # the original platform's variables
    monkeypatch.setenv("YTS_EXPERIMENT_TAGS", "team=growth, stage = ci")
    result = run_graph(instance, tracking=ExperimentTracking(enabled=True))
    assert result.success, failure_reasons(result)
    manifest = read_json(project.training_manifest)
    run_id = manifest["mlflow_run_id"]
    assert run_id
    [event] = result.asset_materializations_for_node("supervised_bundle")
    assert event.metadata["mlflow_run_id"].value == run_id

    client = mlflow_client(project)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["dagster_run_id"] == result.run_id
    assert run.data.tags["team"] == "growth" and run.data.tags["stage"] == "ci"
    assert client.get_experiment(run.info.experiment_id).name == "yts-contract"
    assert run.data.params["train_cv_folds"] == "5" and run.data.params["hyperparameter_source"] == "defaults"
    assert run.data.params["earnings_max_iter"] == str(TrainingConfig().max_iter)
    for target, metrics in manifest["metrics"].items():
        assert run.data.metrics[f"{target}_log_r2"] == pytest.approx(metrics["model"]["log_r2"])
        assert run.data.metrics[f"{target}_baseline_log_r2"] == pytest.approx(metrics["baseline"]["log_r2"])
    reports = {Path(a.path).name for a in client.list_artifacts(run_id, "reports")}
    assert reports == {"training_metrics.json", "data_quality_report.json", "training_baseline.json",
                       "training_manifest.json", "feature_store_snapshot.csv"}
    for target in ("subscribers", "earnings", "growth"):
        [version] = client.search_model_versions(f"name='yts-{target}'")
        assert version.run_id == run_id
        assert version.tags["yts_run_id"] == result.run_id and version.tags["gate_decision"] == "promoted"
        assert version.tags["data_sha256"] == manifest["data_sha256"]
        assert version.tags["code_version"] == manifest["code_version"]
    [dataset] = run.inputs.dataset_inputs
    assert dataset.dataset.name == f"youtube-stats-{manifest['data_sha256'][:12]}"

    import mlflow

    info = mlflow.models.get_model_info("models:/yts-earnings@champion")
    assert [c.name for c in info.signature.inputs.inputs] == ["uploads", "category", "country", "age"]
    assert info.saved_input_example_info is not None
    loaded = mlflow.pyfunc.load_model("models:/yts-earnings@champion")  # raw columns in, raw units out
    frame = pd.DataFrame({"uploads": [500, 1200], "category": ["Music", "Knitting"], "country": ["India", "Narnia"],
                          "age": [8, 2]})
    model = SupervisedModel.load(project.supervised_bundle)
    expected = model.predict(frame["uploads"], frame["age"], frame["category"], frame["country"])["earnings"]
    assert loaded.predict(frame)["predicted_earnings"].tolist() == pytest.approx(expected.tolist())
    assert not list((project.artifact_dir / "mlflow").rglob("*.pkl"))  # a model from code: nothing pickled


@pytest.mark.slow
def test_the_champion_alias_follows_the_registry_and_predicts_like_the_api(project: ProjectPaths, instance,
                                                                          monkeypatch):
    import mlflow

    from serving.app import create_app
    from serving.config import ServingConfig
    from tests.conftest import another_training
    from yts_assets.core.registry import rollback

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = run_graph(instance, tracking=ExperimentTracking(enabled=True))
    second = run_graph(instance, tracking=ExperimentTracking(enabled=True), run_config=another_training())
    assert first.success and second.success
    client = mlflow_client(project)
    assert client.get_model_version_by_alias("yts-growth", "champion").tags["yts_run_id"] == second.run_id
    items = [{"uploads": 1200, "category": "Music", "country": "India", "age": 9},
             {"uploads": 40, "category": "Gaming", "country": "Narnia", "age": 1}]
    champion = mlflow.pyfunc.load_model("models:/yts-growth@champion")
    with TestClient(create_app(ServingConfig(paths=project, capture_enabled=False))) as api:
        served = [api.post("/predict", json=item).json() for item in items]
        assert {body["run_id"] for body in served} == {second.run_id}
        assert champion.predict(pd.DataFrame(items))["predicted_growth"].tolist() == pytest.approx(
            [body["predicted_growth"] for body in served])
    rollback(project, reason="the second run regressed", actor="pytest")
    for target in ("subscribers", "earnings", "growth"):
        version = client.get_model_version_by_alias(f"yts-{target}", "champion")
        assert version.tags["yts_run_id"] == first.run_id, target


@pytest.mark.slow
def test_a_failed_dagster_run_closes_its_mlflow_run_as_failed(project: ProjectPaths, instance):
    result = run_graph(instance, tracking=ExperimentTracking(enabled=True),
                       run_config={"ops": {"supervised_bundle": {"config": {"cv_folds": 1}}}})
    assert not result.success
    client = mlflow_client(project)
    [run] = client.search_runs([client.get_experiment_by_name("yts").experiment_id])
    assert run.data.tags["dagster_run_id"] == result.run_id and run.info.status == "FAILED"


def test_an_unusable_store_fails_strict_runs_and_warns_otherwise(project: ProjectPaths, instance, monkeypatch):
    bogus = "bogus-scheme://nowhere"
    monkeypatch.setenv("YTS_EXPERIMENT_TRACKING_STRICT", "true")  # the original's variable, as the default
    strict = run_graph(instance, tracking=ExperimentTracking(enabled=True, tracking_uri=bogus))
    assert not strict.success
    assert any(f"MLflow tracking is on but the store {bogus} cannot be used" in message
               for _, message in failure_reasons(strict))
    lenient = run_graph(instance, tracking=ExperimentTracking(enabled=True, strict=False, tracking_uri=bogus))
    assert lenient.success and read_json(project.training_manifest)["mlflow_run_id"] is None
    assert "MLFLOW_TRACKING_URI" not in os.environ  # restored after the failed start


def test_experiment_tags_must_be_key_value_pairs(monkeypatch):
    from yts_assets.core import config

    monkeypatch.setenv("YTS_EXPERIMENT_TAGS", "team=growth,oops")
    with pytest.raises(config.ConfigError, match="YTS_EXPERIMENT_TAGS='team=growth,oops' is not valid: .*'oops'"):
        config.EXPERIMENT_TAGS.get()


def test_mlflow_flag_is_parsed_like_every_other_flag(monkeypatch):
    for value, expected in (("1", True), ("yes", True), ("on", True), ("TRUE", True), ("0", False), ("off", False)):
        monkeypatch.setenv("YTS_ENABLE_MLFLOW", value)
        assert ExperimentTracking().is_enabled() is expected, value


@pytest.mark.slow
def test_hpo_changes_the_bundle_and_keeps_the_evaluation_folds(project: ProjectPaths, instance):
    assert run_graph(instance).success
    before = SupervisedModel.load(project.supervised_bundle)
    searched = run_graph(instance, selection="hpo_study", run_config=HPO_CONFIG)
    assert searched.success
    study = read_json(project.for_run(searched.run_id).optuna_study)
    lenient = {"resources": {"gate_policy": {"config": {"champion_noise_k": 100.0, "champion_tolerance": 1.0}}}}
    assert run_graph(instance, run_config=lenient).success  # two trials may well score worse: that is not tested here
    after = SupervisedModel.load(project.supervised_bundle)

    assert before.hyperparameters["source"] == "defaults" and before.hyperparameters["decisions"] == {
        "contract": {}, "extended": {}}
    defaults = TrainingConfig()
    for schema in after.schemas:
        for target, result in study["targets"].items():
            decision = after.metrics[schema][target]["tuning"]
            assert decision["reason"] and decision["adopted"] == (
                decision["mean_difference"] > 0 and decision["mean_difference"] > 2 * decision["standard_error"])
            expected = result["refit"]["best_params"]["max_iter"] if decision["adopted"] else defaults.max_iter
            assert after.regressors[schema][target].max_iter == expected, (schema, target, decision)
            assert (after.metrics[schema][target]["fold_assignment_sha256"]
                    == before.metrics[schema][target]["fold_assignment_sha256"])
        assert after.hyperparameters["folds"][target] == [f["best_params"] for f in result["folds"]]
    assert after.hyperparameters["source"] == ("optuna" if after.hyperparameters["adopted"] else "defaults")
    manifest = read_json(project.training_manifest)
    assert manifest["hyperparameters"] == after.hyperparameters  # the manifest says which were used, and why

    again = run_graph(instance, selection="hpo_study", run_config=HPO_CONFIG)
    assert again.success
    resumed = read_json(project.for_run(again.run_id).optuna_study)
    assert all(r["refit"]["trials"] == 4 for r in resumed["targets"].values())  # the SQLite study resumed


def test_search_never_sees_the_test_rows_of_a_reported_fold(monkeypatch, tmp_path):
    processed = process(generate_demo_frame()).frame
    config = TrainingConfig()
    seen: list[int] = []
    monkeypatch.setattr(hpo, "inner_cv_score", lambda X, y, cfg: seen.append(len(X)) or 0.0)
    study = hpo.search(processed, config, n_trials=1, timeout_seconds=60, storage_url=f"sqlite:///{tmp_path / 'o.db'}",
                       data_tag="t", log=lambda _: None)
    expected = []
    for column in ("subscribers", "highest_yearly_earnings", "growth_target"):
        rows = int(usable_rows(processed, column).sum())
        expected += [len(train) for train, _ in outer_folds(rows, config)] + [rows]
    assert seen == expected
    assert len(study["targets"]["growth"]["folds"]) == config.cv_folds


def test_stale_search_results_are_not_applied():
    config = TrainingConfig()
    study = {"data_tag": "old", "cv_folds": 5, "random_seed": 42, "targets": {}}
    assert hpo.tuned_parameters(study, config, "new") is None
    assert hpo.tuned_parameters({**study, "cv_folds": 3}, config, "old") is None
    assert hpo.tuned_parameters(study, config, "old") == {}


@pytest.mark.slow
def test_trials_come_from_the_environment(project: ProjectPaths, instance, monkeypatch):
    assert run_graph(instance).success
    monkeypatch.setenv("YTS_OPTUNA_TRIALS", "1")
    searched = run_graph(instance, selection="hpo_study")
    assert searched.success
    study = read_json(project.for_run(searched.run_id).optuna_study)
    assert study["trials_per_study"] == 1
    assert all(f["trials"] == 1 for r in study["targets"].values() for f in r["folds"])
