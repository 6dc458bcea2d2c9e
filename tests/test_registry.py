"""Registry file operations and the yts-registry CLI, without Dagster."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from yts_assets.core.files import sha256_file
from yts_assets.core.paths import ProjectPaths
from yts_assets.core.registry import (
    RegistryError,
    load_registry,
    promote,
    read_audit,
    record_rejection,
    register_run,
    rollback,
    verify_published_run,
)


def candidate_manifest(paths: ProjectPaths, run_id: str) -> dict:
    """Write two small candidate artifacts and return a manifest that describes them."""
    artifacts = {}
    for name in ("supervised_bundle", "training_metrics"):
        path = paths.artifact_dir / "candidates" / run_id / f"{name}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"{name} of {run_id}".encode())
        artifacts[name] = {"path": str(path), "file": path.name, "sha256": sha256_file(path)}
    return {
        "run_id": run_id,
        "data": {"source": "demo", "data_sha256": "d" * 64},
        "code_version": "test",
        "metrics": {"earnings": {"model": {"log_r2": 0.5}, "baseline": {"log_r2": 0.0}}},
        "artifacts": artifacts,
    }


def register(paths: ProjectPaths, run_id: str, promote_run: bool = True) -> dict:
    return register_run(paths, candidate_manifest(paths, run_id), promote=promote_run, reason=f"test {run_id}", actor="pytest")


def test_register_publishes_an_immutable_verified_copy(project: ProjectPaths):
    registry = register(project, "run-a")
    assert registry["active_run_id"] == "run-a"
    published = project.published_runs_dir / "run-a"
    assert sorted(p.name for p in published.iterdir()) == ["supervised_bundle.bin", "training_manifest.json", "training_metrics.bin"]
    assert not (published / "supervised_bundle.bin").stat().st_mode & stat.S_IWUSR
    assert verify_published_run(project, "run-a") == []
    assert load_registry(project) == registry
    [audit] = read_audit(project)
    assert audit["previous_active_run_id"] is None and audit["new_active_run_id"] == "run-a"
    assert audit["actor"] == "pytest" and audit["reason"] == "test run-a" and audit["time"]


def test_two_runs_then_rollback_and_promote(project: ProjectPaths):
    register(project, "run-a")
    register(project, "run-b")
    assert load_registry(project)["active_run_id"] == "run-b"
    registry = rollback(project, reason="bad model", actor="pytest")
    assert registry["active_run_id"] == "run-a"
    assert [r["run_id"] for r in registry["runs"]] == ["run-a", "run-b"]
    registry = promote(project, "run-b", reason="fixed", actor="pytest")
    assert registry["active_run_id"] == "run-b"
    actions = [(a["action"], a["previous_active_run_id"], a["new_active_run_id"]) for a in read_audit(project)]
    assert actions == [("promote", None, "run-a"), ("promote", "run-a", "run-b"),
                       ("rollback", "run-b", "run-a"), ("promote", "run-a", "run-b")]


def test_rollback_with_no_earlier_run_is_refused_and_changes_nothing(project: ProjectPaths):
    register(project, "run-a")
    before = project.model_registry.read_bytes()
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        rollback(project, reason="x", actor="pytest")
    assert project.model_registry.read_bytes() == before
    assert len(read_audit(project)) == 1


def test_promote_refuses_unknown_and_tampered_runs(project: ProjectPaths):
    register(project, "run-a")
    register(project, "run-b")
    with pytest.raises(RegistryError, match="unknown run 'run-x'"):
        promote(project, "run-x", reason="x", actor="pytest")
    tampered = project.published_runs_dir / "run-a" / "supervised_bundle.bin"
    tampered.chmod(0o644)
    tampered.write_bytes(b"evil")
    with pytest.raises(RegistryError, match="supervised_bundle: .* does not match its sha256"):
        promote(project, "run-a", reason="x", actor="pytest")
    with pytest.raises(RegistryError, match="failed verification"):
        rollback(project, reason="x", actor="pytest")
    assert load_registry(project)["active_run_id"] == "run-b"


def test_candidate_changed_after_manifest_is_not_published(project: ProjectPaths):
    manifest = candidate_manifest(project, "run-a")
    Path(manifest["artifacts"]["training_metrics"]["path"]).write_bytes(b"overwritten by another run")
    with pytest.raises(RegistryError, match="changed after the manifest was written"):
        register_run(project, manifest, promote=True, reason="x", actor="pytest")
    assert not project.model_registry.exists()
    assert not any(project.published_runs_dir.iterdir())


def test_register_without_promotion_keeps_the_active_run(project: ProjectPaths):
    register(project, "run-a")
    registry = register(project, "run-b", promote_run=False)
    assert registry["active_run_id"] == "run-a"
    assert [r["run_id"] for r in registry["runs"]] == ["run-a", "run-b"]
    assert registry["runs"][1]["status"] == "candidate"
    assert read_audit(project)[-1]["action"] == "register_candidate"
    registry = promote(project, "run-b", reason="reviewed", actor="pytest")
    assert registry["active_run_id"] == "run-b" and registry["runs"][1]["status"] == "promoted"


def test_rejected_run_is_recorded_with_its_checks_and_cannot_be_promoted(project: ProjectPaths):
    register(project, "run-a")
    duplicates = {"check": "raw_youtube_stats:duplicate_channels", "why": "3 duplicate rows"}
    negatives = {"check": "processed_channels:non_negative_values", "why": "uploads (2 rows)"}
    record_rejection(project, "run-bad", [duplicates], actor="dagster")
    registry = record_rejection(project, "run-bad", [duplicates, negatives], actor="dagster")
    assert registry["active_run_id"] == "run-a"
    rejected = registry["runs"][-1]
    assert rejected["status"] == "rejected"
    assert [c["check"] for c in rejected["failing_checks"]] == ["raw_youtube_stats:duplicate_channels",
                                                                 "processed_channels:non_negative_values"]
    audit = read_audit(project)[-1]
    assert audit["action"] == "reject" and audit["new_active_run_id"] == "run-a"
    assert "non_negative_values failed: uploads (2 rows)" in audit["reason"]
    lines = len(read_audit(project))
    record_rejection(project, "run-bad", [negatives], actor="dagster")  # a hook firing again: nothing new
    assert len(read_audit(project)) == lines
    with pytest.raises(RegistryError, match="already promoted"):
        record_rejection(project, "run-a", [negatives], actor="dagster")
    with pytest.raises(RegistryError, match="rejected by checks"):
        promote(project, "run-bad", reason="force", actor="pytest")
    assert not (project.published_runs_dir / "run-bad").exists()


def _register_many(root: str, prefix: str, count: int) -> None:
    os.environ["YTS_PROJECT_ROOT"] = root
    os.environ["YTS_ARTIFACT_DIR"] = str(Path(root) / "artifacts")
    paths = ProjectPaths.from_env()
    for index in range(count):
        run_id = f"{prefix}-{index}"
        register_run(paths, candidate_manifest(paths, run_id), promote=True, reason="concurrent", actor=prefix)


def test_concurrent_writers_never_lose_a_record(project: ProjectPaths):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_register_many, args=(str(project.root), f"w{i}", 8)) for i in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    registry = load_registry(project)
    assert len(registry["runs"]) == 24
    assert len(read_audit(project)) == 24
    assert len(registry["active_history"]) == 24
    assert all(verify_published_run(project, r["run_id"]) == [] for r in registry["runs"])


def run_cli(project: ProjectPaths, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "yts_assets.cli.registry", *args], capture_output=True, text=True,
                          env={**os.environ}, timeout=60)


def test_cli_list_show_promote_rollback(project: ProjectPaths):
    register(project, "run-a")
    register(project, "run-b")
    listing = run_cli(project, "list")
    assert listing.returncode == 0
    assert "* run-b" in listing.stdout and "  run-a" in listing.stdout
    shown = json.loads(run_cli(project, "show", "run-a").stdout)
    assert shown["verified"] is True and shown["active"] is False
    rolled = run_cli(project, "--actor", "ops", "rollback", "--reason", "regression")
    assert rolled.returncode == 0 and "active run is now run-a" in rolled.stdout
    assert read_audit(project)[-1]["actor"] == "ops"
    promoted = run_cli(project, "promote", "run-b", "--reason", "back")
    assert promoted.returncode == 0 and load_registry(project)["active_run_id"] == "run-b"


def test_cli_refusals_exit_2_with_the_reason(project: ProjectPaths):
    register(project, "run-a")
    unknown = run_cli(project, "promote", "nope", "--reason", "x")
    assert unknown.returncode == 2 and "unknown run 'nope'" in unknown.stderr
    missing_reason = run_cli(project, "rollback")
    assert missing_reason.returncode == 2 and "--reason" in missing_reason.stderr
