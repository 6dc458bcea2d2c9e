"""Beyond one machine: Optuna workers sharing studies through one storage, and training_job on a Postgres instance
with its steps on dagster-celery workers (deploy/scale/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetSelection

from tests.conftest import run_graph
from yts_assets.core import config
from yts_assets.core.files import read_json
from yts_assets.core.paths import ProjectPaths
from yts_assets.core.registry import find_run, load_registry
from yts_assets.definitions import build_definitions
from yts_assets.ml import hpo

REPO = Path(__file__).resolve().parents[1]
SCALE = REPO / "deploy" / "scale"
POSTGRES_CELERY_SWITCH = "YTS_TEST_POSTGRES_CELERY"


def test_storage_urls_are_redacted_and_sqlite_waits_for_locks(tmp_path):
    assert hpo.redacted("postgresql+psycopg2://yts:s3cret@db/optuna") == "postgresql+psycopg2://yts:***@db/optuna"
    assert hpo.redacted(hpo.default_storage_url(tmp_path / "o.db")) == f"sqlite:///{tmp_path / 'o.db'}"
    storage = hpo.open_storage(hpo.default_storage_url(tmp_path / "new" / "o.db"))  # makes the folder
    assert (tmp_path / "new" / "o.db").is_file()
    with storage.engine.connect() as connection:  # sqlite3's busy timeout, in ms
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == hpo.SQLITE_BUSY_TIMEOUT_SECONDS * 1000


def test_the_celery_executor_is_chosen_from_the_environment(monkeypatch):
    monkeypatch.setenv("YTS_EXECUTOR", "celery")
    monkeypatch.setenv("YTS_CELERY_BROKER", "redis://:pw@127.0.0.1:6390/0")
    executor = build_definitions().resolve_job_def("training_job").executor_def
    assert executor.name == "celery"
    resolved = executor.config_schema.resolve_config({}).value["config"]
    assert resolved["broker"] == resolved["backend"] == "redis://:pw@127.0.0.1:6390/0"
    monkeypatch.setenv("YTS_EXECUTOR", "threads")
    with pytest.raises(config.ConfigError, match="is not one of in_process, multiprocess, celery"):
        build_definitions()


@pytest.mark.slow
def test_two_worker_processes_share_the_studies_and_hpo_study_resumes_them(project: ProjectPaths, instance, tmp_path,
                                                                           monkeypatch):
    storage_url = hpo.default_storage_url(tmp_path / "shared" / "optuna.db")
    summary_path = tmp_path / "summary.json"
    completed = subprocess.run(
        [sys.executable, str(SCALE / "optuna_workers.py"), "--workers", "2", "--trials", "2", "--cv-folds", "3",
         "--storage", storage_url, "--json", str(summary_path)],
        capture_output=True, text=True, timeout=400, cwd=tmp_path, env={**os.environ})
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    summary = read_json(summary_path)
    pids = summary["worker_pids"]
    assert len(set(pids)) == 2 and summary["worker_exit_codes"] == [0, 0]
    assert len(summary["studies"]) == 3 * (3 + 1)  # three targets, three folds and the refit each

    optuna = hpo.import_optuna()  # read the storage itself, not the script's summary
    storage = hpo.open_storage(storage_url)
    for name in summary["studies"]:
        trials = optuna.load_study(study_name=name, storage=storage).trials
        assert all(trial.state.name == "COMPLETE" for trial in trials), name
        workers = [trial.user_attrs["worker"] for trial in trials]
        assert sorted(int(worker.rsplit(":", 1)[1]) for worker in set(workers)) == sorted(pids), name
        assert len(trials) == 2 * 2, name  # every worker added its 2 trials

    # hpo_study on the same storage (YTS_OPTUNA_STORAGE) finds the workers' studies: same data, same CV, same names
    monkeypatch.setenv("YTS_OPTUNA_STORAGE", storage_url)
    chosen = AssetSelection.assets("raw_youtube_stats", "processed_channels", "hpo_study")
    searched = run_graph(instance, selection=chosen, run_config={
        "ops": {"hpo_study": {"config": {"n_trials": 1, "cv_folds": 3, "timeout_seconds": 120}}}})
    assert searched.success
    study = read_json(project.for_run(searched.run_id).optuna_study)
    assert study["storage"] == storage_url and study["data_tag"] == summary["data_tag"]
    assert all(result["refit"]["trials"] == 2 * 2 + 1 for result in study["targets"].values())
    assert not project.optuna_storage.exists()  # the default SQLite file was not used


def postgres_celery_requested(request: pytest.FixtureRequest) -> bool:
    return os.environ.get(POSTGRES_CELERY_SWITCH) == "1" or "postgres_celery" in (
        request.config.getoption("markexpr", "") or "")


@pytest.mark.slow
@pytest.mark.postgres_celery
def test_training_job_runs_on_postgres_with_steps_on_celery_workers(request, tmp_path):
    if not postgres_celery_requested(request):
        pytest.skip(f"starts Postgres, Redis and Celery workers: set {POSTGRES_CELERY_SWITCH}=1 or select "
                    f"-m postgres_celery (CI does)")
    project, report_path = tmp_path / "project", tmp_path / "report.json"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("YTS_", "DAGSTER_"))}
    if config.DATA_PATH.is_set():  # CI: the real dataset
        env["YTS_DATA_PATH"] = os.environ["YTS_DATA_PATH"]
    completed = subprocess.run(
        [sys.executable, str(SCALE / "run_on_postgres_celery.py"), "--project-root", str(project), "--workers", "2",
         "--optuna", "--timeout", "240", "--json", str(report_path)],
        capture_output=True, text=True, timeout=480, env=env)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    report = json.loads(report_path.read_text())
    assert report["ok"], output[-6000:]
    (run,) = report["runs"]
    assert run["status"] == "SUCCESS" and run["storage"] == "PostgresRunStorage"
    assert run["event_storage"] == "PostgresEventLogStorage"
    workers = {step["worker"] for step in run["steps"].values()}
    assert len(run["steps"]) == 17 and workers <= {f"yts-worker-{i}@{os.uname().nodename}" for i in (1, 2)}, run
    worker_pids = {report["processes"]["celery-worker-1"], report["processes"]["celery-worker-2"]}
    assert {step["pid"] for step in run["steps"].values()} <= worker_pids  # the workers ran them, not the run process

    paths = ProjectPaths(root=project, artifact_dir=project / "artifacts")
    registry = load_registry(paths)
    assert registry["active_run_id"] == run["run_id"] == run["active_run_id"]
    assert find_run(registry, run["run_id"])["status"] == "promoted"
    assert (paths.artifact_dir / "mlops" / "runs" / run["run_id"]).is_dir()

    optuna = report["optuna"]  # two Optuna workers on a database of the same Postgres
    assert optuna["ok"] and optuna["storage"].startswith("postgresql+psycopg2://yts:***@127.0.0.1:")
    assert len(optuna["worker_pids"]) == 2 and not optuna["studies_missing_a_worker"] and not optuna["failed_trials"]

    for name, pid in report["processes"].items():  # everything the script started is gone, and its folder too
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not Path(report["temp_dir"]).exists()
    assert "stopped every process this script started; temporary folder deleted" in completed.stdout
