"""The benchmark helpers measure what they say they measure."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance

from yts_assets.definitions import TRAINING_JOB, build_definitions

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_dagster_floor_runs_the_training_jobs_steps_and_checks_doing_nothing(tmp_path, monkeypatch):
    floor = load_script("dagster_floor")
    shape_path, home = tmp_path / "shape.json", tmp_path / "home"
    floor.write_shape(shape_path)
    floor.prepare_home(home)
    assert (home / "dagster.yaml").read_text() == (BENCHMARKS.parent / "deploy" / "dagster.local.yaml").read_text()

    completed = subprocess.run([sys.executable, str(BENCHMARKS / "dagster_floor.py"), str(shape_path)],
                               env={**os.environ, "DAGSTER_HOME": str(home)}, capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0 and "floor job: success" in completed.stdout, completed.stderr[-3000:]

    job = build_definitions().resolve_job_def(TRAINING_JOB)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        (run,) = instance.get_runs()

        def count(kind: DagsterEventType) -> int:
            return len(instance.all_logs(run.run_id, of_type=kind))

        assert count(DagsterEventType.STEP_SUCCESS) == len(job.graph.nodes)  # one step per node of the training job
        assert count(DagsterEventType.ASSET_MATERIALIZATION) == len(job.asset_layer.executable_asset_keys)
        assert count(DagsterEventType.ASSET_CHECK_EVALUATION) == len(job.asset_layer.asset_graph.asset_check_keys)
        assert count(DagsterEventType.HOOK_SKIPPED) == len(job.graph.nodes)  # the failure hook, as on training_job
