"""Failing blocking checks keep the current model serving; drift is checked on captured payloads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, AssetSelection

from tests.conftest import another_training, run_graph, tree_hashes
from yts_assets.core.files import sha256_file
from yts_assets.core.paths import ProjectPaths
from yts_assets.core.payloads import batch_day
from yts_assets.core.registry import RegistryError, find_run, load_registry, promote, read_audit, verify_published_run
from yts_assets.definitions import build_definitions
from yts_assets.ml.demo import generate_demo_frame
from yts_assets.ml.incoming import partition_outputs
from yts_assets.ml.policy import QualityLimits
from yts_assets.resources import GatePolicyResource

MODEL_ASSETS = ["supervised_bundle", "clustering_bundle", "training_metrics", "training_manifest", "model_registry"]


def corrupt(kind: str, path: Path) -> Path:
    frame = generate_demo_frame()
    if kind == "missing_column":
        frame = frame.drop(columns=["Latitude"])
    elif kind == "duplicated_rows":
        frame = pd.concat([frame, frame.head(20)])
    elif kind == "negative_values":
        frame.loc[:4, "uploads"] = -10
    if kind == "empty_file":
        path.write_bytes(b"")
    else:
        frame.to_csv(path, index=False, encoding="latin-1")
    return path


def failed_checks(result) -> set[str]:
    return {e.check_name for e in result.get_asset_check_evaluations() if not e.passed and e.severity.value == "ERROR"}


@pytest.mark.parametrize(("kind", "failing_check"), [
    ("negative_values", "non_negative_values"),  # one case in the fast loop, the rest with the slow tests
    pytest.param("missing_column", "raw_schema_matches", marks=pytest.mark.slow),
    pytest.param("duplicated_rows", "no_duplicate_channels", marks=pytest.mark.slow),
    pytest.param("empty_file", None, marks=pytest.mark.slow),
])
def test_corrupted_csv_keeps_the_active_run(project: ProjectPaths, instance, first_run, monkeypatch, tmp_path, kind,
                                            failing_check):
    published_before = {p.name: sha256_file(p) for p in (project.published_runs_dir / first_run).iterdir()}
    bundle_before = sha256_file(project.supervised_bundle)

    monkeypatch.setenv("YTS_DATA_PATH", str(corrupt(kind, tmp_path / f"{kind}.csv")))
    bad = run_graph(instance)
    assert not bad.success
    for asset in MODEL_ASSETS:
        assert bad.asset_materializations_for_node(asset) == [], asset
    assert sha256_file(project.supervised_bundle) == bundle_before

    registry = load_registry(project)
    assert registry["active_run_id"] == first_run
    assert verify_published_run(project, first_run) == []
    assert {p.name: sha256_file(p) for p in (project.published_runs_dir / first_run).iterdir()} == published_before
    assert not (project.published_runs_dir / bad.run_id).exists()
    if failing_check is None:  # the loader refused the file: nothing ran that could be recorded
        assert find_run(registry, bad.run_id) is None
        return
    assert failing_check in failed_checks(bad)
    rejected = find_run(registry, bad.run_id)
    assert rejected["status"] == "rejected"
    assert any(c["check"].endswith(failing_check) for c in rejected["failing_checks"])
    audit = read_audit(project)[-1]
    assert audit["action"] == "reject" and audit["new_active_run_id"] == first_run
    assert failing_check in audit["reason"]


@pytest.mark.slow
def test_a_degenerate_model_is_rejected_against_the_champion(project: ProjectPaths, instance, first_run):
    worse = run_graph(instance, run_config={"ops": {"supervised_bundle": {"config": {"max_iter": 1, "learning_rate": 0.01}}}})
    assert not worse.success
    assert "no_regression_against_champion" in failed_checks(worse)
    assert worse.asset_materializations_for_node("model_registry") == []
    registry = load_registry(project)
    assert registry["active_run_id"] == first_run
    rejected = find_run(registry, worse.run_id)
    assert rejected["status"] == "rejected"
    assert "regressed against champion " + first_run in rejected["reason"]


@pytest.mark.slow
def test_manual_policy_records_a_candidate_to_promote_later(project: ProjectPaths, instance, first_run):
    second = run_graph(instance, run_config=another_training(promotion_policy="manual"))
    assert second.success
    registry = load_registry(project)
    assert registry["active_run_id"] == first_run
    assert find_run(registry, second.run_id)["status"] == "candidate"
    assert second.asset_materializations_for_node("model_registry")[0].metadata["decision"].value == "candidate"
    promote(project, second.run_id, reason="reviewed", actor="pytest")
    assert load_registry(project)["active_run_id"] == second.run_id


def test_registry_only_run_is_refused_and_changes_nothing(project: ProjectPaths, instance, first_run, monkeypatch,
                                                          tmp_path):
    before = tree_hashes(project.mlops_dir)
    again = run_graph(instance, selection="model_registry")
    assert not again.success
    [failure] = [e for e in again.all_events if e.is_step_failure]
    message = failure.step_failure_data.user_failure_data.description
    assert "not published" in message and "supervised_bundle was not materialized in this run" in message
    assert tree_hashes(project.mlops_dir) == before  # no record, no audit line

    monkeypatch.setenv("YTS_DATA_PATH", str(corrupt("duplicated_rows", tmp_path / "dup.csv")))
    bad = run_graph(instance)
    assert not bad.success and find_run(load_registry(project), bad.run_id)["status"] == "rejected"
    assert not run_graph(instance, selection="model_registry").success
    assert load_registry(project)["active_run_id"] == first_run


def test_a_run_without_its_checks_cannot_publish(project: ProjectPaths, instance):
    defs = build_definitions()
    job = defs.resolve_job_def("training_job")
    unchecked = job.get_subset(asset_selection=set(job.asset_layer.selected_asset_keys), asset_check_selection=set())
    result = unchecked.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success and result.get_asset_check_evaluations() == []
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "blocking check raw_youtube_stats:raw_schema_matches did not pass in this run" in \
        failure.step_failure_data.user_failure_data.description
    assert load_registry(project)["active_run_id"] is None


def test_partial_policy_config_keeps_the_other_defaults(monkeypatch):
    policy = GatePolicyResource(quality={"max_null_rate": {"country": 0.1}}, drift={"psi_threshold": 0.3}).policy()
    assert policy.quality.max_null_rate["country"] == 0.1 and policy.quality.max_null_rate["uploads"] == 0.0
    assert policy.quality.min_rows == QualityLimits().min_rows
    assert policy.drift.psi_threshold == 0.3 and policy.drift.max_high_severity_share == 0.10
    monkeypatch.setenv("YTS_RETRAIN_HIGH_SEVERITY_SHARE", "0.3")
    assert GatePolicyResource(drift={"psi_threshold": 0.3}).policy().drift.max_high_severity_share == 0.3
    assert GatePolicyResource(drift={"max_high_severity_share": 0.2}).policy().drift.max_high_severity_share == 0.2


def test_gate_policy_is_run_config(project: ProjectPaths, instance):
    strict = {"resources": {"gate_policy": {"config": {"quality": {"min_rows": 5000}}}}}
    result = run_graph(instance, run_config=strict)
    assert not result.success and "row_count_in_bounds" in failed_checks(result)
    record = find_run(load_registry(project), result.run_id)
    assert record["status"] == "rejected" and "outside 5000..100000" in record["reason"]
    assert run_graph(instance).success  # the default policy, on the same data


def test_checks_write_nothing_outside_the_gate(project: ProjectPaths, instance, first_run, monkeypatch, tmp_path):
    before = tree_hashes(project.mlops_dir)
    monkeypatch.setenv("YTS_DATA_PATH", str(corrupt("negative_values", tmp_path / "negative.csv")))
    defs = build_definitions()
    checks_only = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={AssetKey("raw_youtube_stats"), AssetKey("processed_channels")},
        asset_check_selection=AssetSelection.checks_for_assets(AssetKey("processed_channels")).resolve_checks(
            defs.resolve_asset_graph()))
    result = checks_only.execute_in_process(instance=instance, raise_on_error=False)
    assert "non_negative_values" in failed_checks(result)
    assert tree_hashes(project.mlops_dir) == before  # outside training_job nothing records a rejection
    assert load_registry(project)["active_run_id"] == first_run


@pytest.mark.slow
def test_summary_shows_failed_checks_and_the_unchanged_active_run(project: ProjectPaths, first_run, tmp_path):
    bad_csv = corrupt("negative_values", tmp_path / "negative.csv")
    completed = subprocess.run([str(Path(sys.executable).parent / "yts-run")], capture_output=True, text=True, timeout=300,
                               env={**os.environ, "YTS_DATA_PATH": str(bad_csv), "DAGSTER_HOME": str(tmp_path / "home")})
    assert completed.returncode == 1
    assert "FAIL processed_channels:non_negative_values  - negative values in uploads (5 rows)" in completed.stdout
    assert f"active run id: {first_run} (unchanged: this run is rejected" in completed.stdout


def write_batch(folder: Path, name: str, records: list[dict], extra_lines: list[str] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "".join(line + "\n" for line in extra_lines))
    return path


def drift_run(instance, day: str):
    return build_definitions().resolve_job_def("drift_job").execute_in_process(instance=instance, raise_on_error=False,
                                                                               partition_key=day)


def test_payload_drift_check_and_rejected_lines(project: ProjectPaths, instance, use_real_data):
    assert run_graph(instance).success
    real = pd.read_csv(project.processed_csv)[["uploads", "age", "category", "country"]].dropna()
    sample = json.loads(real.sample(300, random_state=3).to_json(orient="records"))
    first = write_batch(project.incoming_dir, "batch-001.jsonl", sample,
                        extra_lines=['{"uploads": 5', '{"uploads": 10, "category": "  ", "country": "India", "age": 3}'])
    day = batch_day(first)  # an undated name: the UTC day of its mtime, the partition it belongs to
    result = drift_run(instance, day)
    assert result.success
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.passed, evaluation.description
    rejected = [json.loads(line) for line in (project.incoming_dir / "rejected" / "batch-001.rejected.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejected] == [301, 302]
    assert "Invalid JSON" in rejected[0]["reason"] and rejected[1]["reason"].startswith("category:")
    metadata = result.asset_materializations_for_node("production_payloads")[0].metadata
    assert metadata["dagster/row_count"].value == 300 and metadata["rejected_lines"].value == 2

    second = write_batch(project.incoming_dir, "batch-002.jsonl", [{**r, "uploads": r["uploads"] * 100} for r in sample])
    os.utime(second, (first.stat().st_atime, first.stat().st_mtime))  # the same day, even at midnight
    drifted = drift_run(instance, day)
    [evaluation] = drifted.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity.value == "ERROR"
    assert "drift risk in batch-002.jsonl" in evaluation.description
    report = json.loads(partition_outputs(project, day)[1].read_text())
    assert report["batches"]["batch-001.jsonl"]["is_drift_risk"] is False
    assert report["batches"]["batch-002.jsonl"]["drifted_features"] == ["uploads"]


@pytest.mark.slow
def test_a_tampered_bundle_fails_integrity_and_is_not_promoted(project: ProjectPaths, instance):
    good = run_graph(instance)  # in this instance: the subset runs below read its upstream materializations
    retrained = run_graph(instance, selection="supervised_bundle")
    assert retrained.success
    project.for_run(retrained.run_id).supervised_model.write_bytes(b"tampered after materialization")
    checked = run_graph(instance, selection=AssetSelection.checks_for_assets(AssetKey("supervised_bundle")))
    results = {e.check_name: e for e in checked.get_asset_check_evaluations()}
    assert not results["bundle_integrity"].passed and "changed after it was written" in results["bundle_integrity"].description
    assert not results["no_regression_against_champion"].passed
    assert load_registry(project)["active_run_id"] == good.run_id


@pytest.mark.slow
def test_a_retrain_on_nothing_new_is_recorded_unchanged(project: ProjectPaths, instance, first_run):
    again = run_graph(instance)
    assert again.success
    assert again.asset_materializations_for_node("model_registry")[0].metadata["decision"].value == "unchanged"
    registry = load_registry(project)
    record = find_run(registry, again.run_id)
    assert record["status"] == "unchanged" and record["same_as"] == first_run
    assert registry["active_run_id"] == first_run
    assert not (project.published_runs_dir / again.run_id).exists()  # no second published copy
    assert read_audit(project)[-1]["action"] == "unchanged"
    with pytest.raises(RegistryError, match="was never published"):
        promote(project, again.run_id, reason="try", actor="pytest")
    other_seed = run_graph(instance, run_config=another_training())
    assert find_run(load_registry(project), other_seed.run_id)["status"] == "promoted"  # a real change publishes
