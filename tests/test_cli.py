"""The README's entry points as a user runs them: yts-run and the standard Dagster CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from yts_assets.core.files import read_json
from yts_assets.core.paths import ProjectPaths
from yts_assets.core.registry import load_registry
from yts_assets.ml import hpo

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(command: list[str], project: ProjectPaths, **env: str | None) -> subprocess.CompletedProcess:
    """`command` in the project; an env value of None removes the variable."""
    merged = {**os.environ, "DAGSTER_HOME": str(project.root / "dagster_home"), **env}
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={key: value for key, value in merged.items() if value is not None})


@pytest.mark.slow
def test_yts_run_prints_source_checks_metrics_and_active_run(project: ProjectPaths):
    completed = run([str(BIN / "yts-run")], project)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    out = completed.stdout
    assert "data source: DEMO" in out
    assert "PASS raw_youtube_stats:raw_schema_matches" in out
    assert re.search(r"earnings\s+995\s+-?\d\.\d{3}\s+-?\d\.\d{3}", out)
    run_id = load_registry(project)["active_run_id"]
    assert f"active run id: {run_id} (this run)" in out
    assert f"artifacts: {project.artifact_dir}" in out
    assert f"UI: DAGSTER_HOME={project.root / 'dagster_home'} .venv/bin/dg dev" in out


@pytest.mark.slow
def test_yts_run_on_a_bad_path_exits_1_and_says_why(project: ProjectPaths):
    completed = run([str(BIN / "yts-run")], project, YTS_DATA_PATH="/missing/youtube.csv")
    assert completed.returncode == 1
    assert "FAILED step raw_youtube_stats: YTS_DATA_PATH points to /missing/youtube.csv" in completed.stdout
    assert "active run id: none" in completed.stdout


@pytest.mark.slow
def test_dagster_cli_materializes_everything_without_an_implicit_search(project: ProjectPaths, monkeypatch):
    monkeypatch.delenv("YTS_OPTUNA_TRIALS", raising=False)
    (project.root / "dagster_home").mkdir()
    # everything but the day-partitioned monitoring asset (Dagster's CLI wants a --partition for that one)
    completed = run([str(BIN / "dagster"), "asset", "materialize", "-m", "yts_assets.definitions", "--select",
                     "not group:monitoring"], project)
    assert completed.returncode == 0, completed.stderr[-3000:]
    registry = load_registry(project)
    assert registry["active_run_id"] and len(registry["runs"]) == 1
    study = read_json(project.for_run(registry["active_run_id"]).optuna_study)  # hpo_study is selected; it searches
    assert study == hpo.NOT_REQUESTED and not project.optuna_storage.exists()  # only when trials are asked for


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    command = re.search(r"```bash\n(.+?)\n```", readme.split("## Quickstart", 1)[1], re.S).group(1).splitlines()[1]
    assert "pytest" in command
    assert command in (REPO / ".ci" / "run").read_text()


@pytest.mark.slow
def test_dg_scaffolds_an_asset_that_loads_without_wiring(tmp_path: Path):
    clone = tmp_path / "clone"
    skipped = shutil.ignore_patterns(".venv", ".git", "artifacts", ".dagster_home*", "__pycache__", "*.egg-info",
                                     ".pytest_cache")

    def ignore(folder: str, names: list[str]) -> set[str]:  # the project's data/, not yts_assets/defs/data/
        return set(skipped(folder, names)) | ({"data", "backups"} & set(names) if Path(folder) == REPO else set())

    shutil.copytree(REPO, clone, ignore=ignore)
    env = {**os.environ, "PYTHONPATH": str(clone)}
    scaffold = subprocess.run([str(BIN / "dg"), "scaffold", "defs", "dagster.asset", "data/probe_asset.py"], cwd=clone,
                              capture_output=True, text=True, timeout=120, env=env)
    assert scaffold.returncode == 0, scaffold.stderr[-2000:]
    assert (clone / "yts_assets" / "defs" / "data" / "probe_asset.py").is_file()
    listed = subprocess.run([str(BIN / "dg"), "list", "defs", "--json"], cwd=clone, capture_output=True, text=True,
                            timeout=120, env=env)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "probe_asset" in {asset["asset_key"] for asset in json.loads(listed.stdout)["assets"]}


REPORTING_HEAVY_IMPORTS = """
import sys
from yts_assets.cli.run import main
code = main([])
heavy = sorted({name.split(".")[0] for name in sys.modules} & {"sklearn", "scipy", "skops", "matplotlib"})
print("imported by the run process:", ", ".join(heavy) or "none")
sys.exit(code)
"""


@pytest.mark.slow
def test_yts_run_on_worker_processes_trains_what_it_trains_in_one(project: ProjectPaths):
    """By default on two cores or more (else with YTS_WORKERS=2) the pool starts first thing (fits, serialization and
    pictures in workers, and every load of a model: the run process imports none of scikit-learn, SciPy, skops or
    matplotlib); the CV metrics are those of a run in one process, on the same data. A bad count is refused by
    name."""
    def metrics_table(out: str) -> list[str]:
        return [line for line in out.splitlines() if re.match(r"\s+(contract|extended)\s", line)]

    cores = len(os.sched_getaffinity(0))
    alone = run([str(BIN / "yts-run")], project, YTS_WORKERS="0")
    default = run([sys.executable, "-c", REPORTING_HEAVY_IMPORTS], project, YTS_WORKERS=None)  # yts-run's main()
    pooled = default if cores > 1 else run([sys.executable, "-c", REPORTING_HEAVY_IMPORTS], project, YTS_WORKERS="2")
    assert alone.returncode == 0 and default.returncode == 0 and pooled.returncode == 0, pooled.stdout + pooled.stderr
    assert "imported by the run process: none" in pooled.stdout  # the models live in the workers
    assert "worker processes: none, everything in this one" in alone.stdout
    assert (f"worker processes: {cores} (" if cores > 1 else "worker processes: none") in default.stdout
    assert f"worker processes: {cores if cores > 1 else 2} (fits, model files, pictures)" in pooled.stdout
    assert len(metrics_table(alone.stdout)) == 6 and metrics_table(pooled.stdout) == metrics_table(alone.stdout)
    refused = run([str(BIN / "yts-run")], project, YTS_WORKERS="-1")
    assert refused.returncode == 1 and "YTS_WORKERS='-1' is not valid: expected 0 or more" in refused.stdout
