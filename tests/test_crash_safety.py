"""kill -9 at every step of a publish: the registry, its audit log and the published runs stay consistent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.killing import COUNTED_KILL, Forking
from tests.test_registry import register
from yts_assets.core.paths import ProjectPaths
from yts_assets.core.registry import (
    load_registry,
    read_audit,
    recover,
    registry_lock,
    verify_published_run,
)

REPO = Path(__file__).resolve().parents[1]
KILLER = COUNTED_KILL + """
from tests.test_registry import register
from yts_assets.core.paths import ProjectPaths
os.replace, os.fsync, shutil.copyfile = counted(os.replace), counted(os.fsync), counted(shutil.copyfile)
register(ProjectPaths.from_env(), sys.argv[2])
print("DONE", calls)
"""


def check_invariants(paths: ProjectPaths) -> dict:
    with registry_lock(paths):
        recover(paths)
    registry = load_registry(paths)  # valid JSON
    assert verify_published_run(paths, registry["active_run_id"]) == []
    audit = read_audit(paths)  # every line valid JSON
    assert len({line["txn"] for line in audit}) == len(audit)  # no record twice
    activations = [line for line in audit if line["previous_active_run_id"] != line["new_active_run_id"]]
    assert [line["new_active_run_id"] for line in activations] == registry["active_history"]  # one line per change
    assert audit[-1]["new_active_run_id"] == registry["active_run_id"]
    assert not [p for p in paths.published_runs_dir.iterdir() if p.name.startswith(".")]  # no staging left
    return registry


@pytest.mark.slow
def test_kill_at_every_step_of_a_publish(project: ProjectPaths):
    register(project, "run-a")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # each kill point in a fresh child, as `python -c KILLER step run_id` would run it, forked after the imports
    with Forking(KILLER, ["tests.test_registry", "yts_assets.core.paths"], cwd=REPO, env=env, timeout=60) as killer:
        for step in range(1, 60):
            run_id = f"run-k{step}"
            killed = killer.run(str(step), run_id)
            registry = check_invariants(project)
            if killed.returncode == 0:
                assert killed.stdout.startswith("DONE") and registry["active_run_id"] == run_id
                break
            assert killed.returncode == -9, killed.stderr[-2000:]
            assert registry["active_run_id"] in {"run-a", run_id} or registry["active_run_id"].startswith("next-")
            following = register(project, f"next-{step}")  # the next run succeeds
            assert following["active_run_id"] == f"next-{step}"
            check_invariants(project)
        else:
            pytest.fail("the publish never completed")
    assert step > 8  # the kill points covered every copy, fsync and rename of a publish


def test_recover_repairs_a_torn_audit_line_and_a_missing_one(project: ProjectPaths):
    register(project, "run-a")
    register(project, "run-b")
    lines = project.registry_audit.read_text().splitlines(keepends=True)
    project.registry_audit.write_text(lines[0] + lines[1][: len(lines[1]) // 2])  # run-b's line torn, mid-write
    with registry_lock(project):
        done = recover(project)
    assert any("torn" in d for d in done) and any("interrupted commit" in d for d in done)
    audit = read_audit(project)
    assert [a["new_active_run_id"] for a in audit] == ["run-a", "run-b"]
    assert json.loads(project.model_registry.read_text())["last_audit"]["txn"] == audit[-1]["txn"]
    with registry_lock(project):
        assert recover(project) == []  # nothing left to do


def test_recover_moves_orphans_and_removes_leftovers(project: ProjectPaths):
    register(project, "run-a")
    orphan = project.published_runs_dir / "never-recorded"
    orphan.mkdir()
    (orphan / "x.bin").write_bytes(b"x")
    (project.published_runs_dir / ".half.staging").mkdir()
    (project.mlops_dir / ".model_registry.json.abc.tmp").write_text("{")
    with registry_lock(project):
        done = recover(project)
    assert len(done) == 3
    [moved] = (project.mlops_dir / "orphans").glob("never-recorded-*")  # suffixed: a second orphan of that name is kept too
    assert (moved / "x.bin").is_file()
    assert sorted(p.name for p in project.published_runs_dir.iterdir()) == ["run-a"]
    assert not list(project.mlops_dir.glob(".*.tmp"))
