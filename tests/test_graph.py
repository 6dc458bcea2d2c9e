"""The whole asset graph through Dagster's in-process materialize(), on demo and real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import another_training, run_graph, tree_hashes
from yts_assets.cli.run import failure_reasons
from yts_assets.core.files import read_json, sha256_file
from yts_assets.core.paths import ProjectPaths
from yts_assets.core.registry import (
    load_registry,
    read_audit,
    rollback,
    verify_published_run,
)
from yts_assets.definitions import TRAINING_JOB, build_definitions
from yts_assets.ml.dataset import read_processed
from yts_assets.ml.demo import generate_demo_frame
from yts_assets.ml.models import ClusteringModel, SupervisedModel

ASSET_NAMES = sorted(k.to_user_string() for k in build_definitions().resolve_job_def(TRAINING_JOB).asset_layer.selected_asset_keys)


def materialization(result, asset: str):
    [event] = result.asset_materializations_for_node(asset)
    return event


def failure_messages(result) -> str:
    return " ".join(message for _, message in failure_reasons(result))


def test_every_asset_is_documented_grouped_typed_and_versioned():
    graph = build_definitions().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, key
        if node.is_observable and not node.is_materializable:  # the dataset file, observed
            assert node.group_name == "sources", key
            continue
        assert node.group_name in {"data", "models", "analytics", "tuning", "registry", "monitoring", "features"}, key
        assert node.kinds, key
        assert node.code_version, key


def test_whole_graph_on_demo_data(project: ProjectPaths, instance):
    result = run_graph(instance)
    assert result.success, failure_messages(result)
    raw = materialization(result, "raw_youtube_stats")
    assert raw.metadata["source"].value == "demo"

    for asset in ASSET_NAMES:
        metadata = materialization(result, asset).metadata
        assert "path" in metadata and "dagster/row_count" in metadata, asset
    for asset in ["raw_youtube_stats", "processed_channels", "feature_snapshot", "clustering_bundle", "supervised_bundle"]:
        assert "dagster/column_schema" in materialization(result, asset).metadata, asset
    assert "data:image/png;base64" in materialization(result, "supervised_bundle").metadata["predicted_vs_actual"].value
    assert "data:image/png;base64" in materialization(result, "clustering_bundle").metadata["clusters"].value
    for picture in ("influence_map", "earnings_choropleth", "category_dominance_map"):
        assert "data:image/png;base64" in materialization(result, "channel_maps").metadata[picture].value

    manifest = read_json(project.training_manifest)
    assert manifest["run_id"] == result.run_id
    assert manifest["data"]["source"] == "demo"
    assert manifest["timestamp_utc"] == manifest["created_at"] and manifest["python_version"] == manifest["packages"]["python"]
    assert manifest["data_sha256"] == manifest["data"]["data_sha256"] and manifest["data_path"] == manifest["data"]["path"]
    assert manifest["artifact_hashes"] == {name: a["sha256"] for name, a in manifest["artifacts"].items()}
    assert manifest["artifact_paths"] == {name: a["path"] for name, a in manifest["artifacts"].items()}
    assert set(manifest["packages"]) >= {"dagster", "pandas", "scikit-learn"}
    for name, artifact in manifest["artifacts"].items():
        assert sha256_file(Path(artifact["path"])) == artifact["sha256"], name
    assert project.processed_csv == project.root / "data" / "global_youtube_statistics_processed.csv"
    assert read_processed(project.processed_csv).shape == (995, 30)

    registry = load_registry(project)
    assert registry["active_run_id"] == result.run_id
    assert verify_published_run(project, result.run_id) == []
    [record] = registry["runs"]
    assert record["timestamp_utc"] == manifest["timestamp_utc"] and record["training_config"] == manifest["training_config"]
    for name, published in record["artifact_paths"].items():  # the immutable published copies
        assert Path(published).parent == project.published_runs_dir / result.run_id
        assert sha256_file(Path(published)) == manifest["artifact_hashes"][name], name
    snapshot = read_processed(project.feature_snapshot)
    assert snapshot["channel_id"].is_unique
    assert {"uploads", "category", "country", "age", "event_timestamp"} <= set(snapshot.columns)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert len(checks) == 20
    assert {name for name, passed in checks.items() if not passed} == {"created_year_in_range",
                                                                         "subscribers_skill_over_baseline"}
    assert checks["interval_coverage"] and checks["extended_subscribers_skill_over_baseline"]
    card = project.model_card.read_text(encoding="utf-8")
    assert card.startswith(f"# Model card: run {result.run_id}") and "No skill on subscribers from the contract" in card
    assert "model_card" in manifest["artifacts"] and set(manifest["metrics_by_schema"]) == {"contract", "extended"}


def test_whole_graph_on_real_data(project: ProjectPaths, use_real_data: Path, instance):
    result = run_graph(instance)
    assert result.success, failure_messages(result)
    assert materialization(result, "raw_youtube_stats").metadata["source"].value == "real"
    manifest = read_json(project.training_manifest)
    assert manifest["data"]["source"] == "real"
    assert manifest["data"]["data_sha256"] == "950895e16683d2944cf40ded2d57052c5c27de8339b0e3713ac421e1b589de21"
    warnings = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
    assert warnings == {"created_year_in_range", "subscribers_skill_over_baseline"}  # 1970; no signal for subscribers
    metrics = manifest["metrics"]
    assert metrics["growth"]["rows"] == 658
    assert metrics["earnings"]["model"]["log_r2"] > 0.5 > metrics["earnings"]["baseline"]["log_r2"]
    assert metrics["growth"]["model"]["log_r2"] > 0.5
    extended = manifest["metrics_by_schema"]["extended"]  # issue 15's bar for the richer inputs
    assert extended["subscribers"]["model"]["log_r2"] >= 0.45 and extended["growth"]["model"]["log_r2"] >= 0.85
    assert metrics["earnings"]["segment"]["rows"] == 995 - 79 and metrics["earnings"]["zero_labels"]["rows"] == 79
    for schema, by_target in manifest["metrics_by_schema"].items():
        for target, m in by_target.items():
            assert 0.77 <= m["interval"]["coverage"] <= 0.83, (schema, target, m["interval"])
    quality = read_json(project.data_quality_report)
    assert quality["raw"]["rows"] == 995 and quality["raw"]["columns"] == 28
    assert quality["processed"]["columns"] == 30
    assert quality["processed"]["missing_pct"]["growth_target"] == pytest.approx(33.869, abs=0.01)
    baseline = read_json(project.training_baseline)
    assert set(baseline["numeric"]) == {"uploads", "age"}
    assert sum(baseline["numeric"]["uploads"]["bin_fractions"]) == pytest.approx(1.0)
    assert "India" in baseline["categorical"]["country"]["frequencies"]
    clustered = read_processed(project.clustered_channels)
    assert len(clustered) == 995 and clustered["archetype"].nunique() == 4
    assert load_registry(project)["active_run_id"] == result.run_id


def test_the_original_variables_set_training_defaults_and_where_canonical_copies_go(project: ProjectPaths, instance,
                                                                                     monkeypatch, tmp_path):
    for name, value in {"YTS_RANDOM_STATE": "7", "YTS_N_ESTIMATORS": "25", "YTS_MIN_SAMPLES_LEAF": "12",
                        "YTS_N_CLUSTERS": "3", "YTS_DBSCAN_EPS": "0.5", "YTS_DBSCAN_MIN_SAMPLES": "6",
                        "YTS_MODEL_DIR": str(tmp_path / "served-models"), "YTS_MAP_DIR": str(tmp_path / "maps"),
                        "YTS_REPORT_DIR": "custom/reports"}.items():  # relative: to the project root
        monkeypatch.setenv(name, value)
    result = run_graph(instance, run_config={"ops": {"clustering_bundle": {"config": {"kmeans_clusters": 5}}}})
    assert result.success, failure_messages(result)
    run_paths = project.for_run(result.run_id)
    supervised = SupervisedModel.load(run_paths.supervised_bundle)
    assert supervised.config["random_seed"] == 7 and supervised.config["max_iter"] == 25
    assert supervised.config["min_samples_leaf"] == 12
    clustering = ClusteringModel.load(run_paths.clustering_bundle)  # run config wins over YTS_N_CLUSTERS
    assert clustering.config == {"kmeans_clusters": 5, "dbscan_eps": 0.5, "dbscan_min_samples": 6, "random_seed": 7,
                                 "kmeans_fit_rows": 20_000, "dbscan_fit_rows": 5_000}
    assert len(clustering.archetypes) == 5

    paths = ProjectPaths.from_env()
    assert paths.supervised_model == tmp_path / "served-models" / "supervised_bundle.skops"
    assert paths.training_metrics == project.root / "custom" / "reports" / "training_metrics.json"
    assert paths.influence_map == tmp_path / "maps" / "influence_map.html"
    manifest = read_json(paths.training_manifest)
    for name in ("supervised_model", "clustering_model", "training_metrics", "training_baseline", "influence_map"):
        assert sha256_file(getattr(paths, name)) == manifest["artifact_hashes"][name], name
    assert not (project.artifact_dir / "models").exists()
    assert run_paths.models_dir == project.artifact_dir / "candidates" / result.run_id / "models"


def test_variables_that_no_longer_apply_are_reported(monkeypatch):
    from yts_assets.core import config

    monkeypatch.setenv("YTS_TEST_SIZE", "0.2")
    assert config.ignored_variables() == ["YTS_TEST_SIZE is set but no longer applies: every metric is 5-fold "
                                          "cross-validated, so there is no hold-out"]


@pytest.mark.slow
def test_registry_after_two_runs_and_rollback(project: ProjectPaths, instance):
    first = run_graph(instance)
    second = run_graph(instance, run_config=another_training())
    assert first.success and second.success
    registry = load_registry(project)
    assert [r["run_id"] for r in registry["runs"]] == [first.run_id, second.run_id]
    assert registry["active_run_id"] == second.run_id
    audit = read_audit(project)
    assert [(a["previous_active_run_id"], a["new_active_run_id"]) for a in audit] == [
        (None, first.run_id), (first.run_id, second.run_id)]
    assert all(a["actor"] == "dagster" and a["reason"] for a in audit)
    rollback(project, reason="second run regressed", actor="pytest")
    assert load_registry(project)["active_run_id"] == first.run_id
    assert verify_published_run(project, first.run_id) == []
    assert verify_published_run(project, second.run_id) == []


@pytest.mark.slow
def test_same_input_same_hashes_predictions_and_data_version(project: ProjectPaths, instance):
    outputs = []
    for _ in range(2):
        result = run_graph(instance)
        assert result.success
        model = SupervisedModel.load(project.supervised_bundle)
        processed = read_processed(project.processed_csv)
        outputs.append({
            "processed_sha": sha256_file(project.processed_csv),
            "snapshot_sha": sha256_file(project.feature_snapshot),
            "raw_version": materialization(result, "raw_youtube_stats").tags["dagster/data_version"],
            "processed_version": materialization(result, "processed_channels").tags["dagster/data_version"],
            "predictions": model.predict_encoded(model.encoder.encode(processed)),
        })
    first, second = outputs
    for key in ("processed_sha", "snapshot_sha", "raw_version", "processed_version"):
        assert first[key] == second[key], key
    for target in first["predictions"]:
        np.testing.assert_array_equal(first["predictions"][target], second["predictions"][target])


def write_bad_input(kind: str, path: Path) -> Path:
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "binary":
        path.write_bytes(b"PK\x03\x04\x00\x00binary zip")
    elif kind == "missing_columns":
        generate_demo_frame().drop(columns=["uploads"]).to_csv(path, index=False)
    elif kind == "other_dataset":
        path.write_text("sepal_length,sepal_width,species\n5.1,3.5,setosa\n")
    return path


@pytest.mark.parametrize(("kind", "message"), [
    ("missing_columns", "missing required columns: uploads"),  # one case in the fast loop, the rest with the slow tests
    pytest.param("missing_file", "YTS_DATA_PATH points to", marks=pytest.mark.slow),
    pytest.param("empty", "is empty", marks=pytest.mark.slow),
    pytest.param("binary", "not a text CSV", marks=pytest.mark.slow),
    pytest.param("other_dataset", "is not the Global YouTube Statistics dataset", marks=pytest.mark.slow),
])
def test_bad_input_fails_clearly_and_changes_nothing(project: ProjectPaths, instance, first_run, monkeypatch, tmp_path,
                                                     kind, message):
    before = {**tree_hashes(project.artifact_dir), **tree_hashes(project.data_dir)}
    monkeypatch.setenv("YTS_DATA_PATH", str(write_bad_input(kind, tmp_path / f"{kind}.csv")))
    result = run_graph(instance)
    assert not result.success
    assert message in failure_messages(result)
    assert {**tree_hashes(project.artifact_dir), **tree_hashes(project.data_dir)} == before
    assert load_registry(project)["active_run_id"] == first_run


def test_failure_mid_graph_leaves_no_partial_files(project: ProjectPaths, instance, first_run):
    bundle_before = sha256_file(project.supervised_bundle)
    registry_before = project.model_registry.read_bytes()
    result = run_graph(instance, run_config={"ops": {"supervised_bundle": {"config": {"cv_folds": 1}}}})
    assert not result.success
    assert "cv_folds is 1: at least 3 are needed" in failure_messages(result)
    assert sha256_file(project.supervised_bundle) == bundle_before
    assert project.model_registry.read_bytes() == registry_before
    assert not list(project.artifact_dir.rglob("*.tmp"))
    assert not list(project.published_runs_dir.glob(".*staging"))
    assert load_registry(project)["active_run_id"] == first_run
    assert json.loads(project.registry_audit.read_text().splitlines()[-1])["new_active_run_id"] == first_run
