"""yts-run always prints its summary, names the failed step and the data it tried to read, and exits 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from yts_assets.cli.run import main
from yts_assets.core.paths import ProjectPaths


@pytest.fixture
def home(project: ProjectPaths, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    return project.root / "dagster_home"


def summary(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


@pytest.mark.slow
def test_a_truncated_registry_still_gives_a_summary(project: ProjectPaths, first_run, home, capsys):
    text = project.model_registry.read_text()
    project.model_registry.chmod(0o644)
    project.model_registry.write_text(text[: len(text) // 2])
    assert main([]) == 1
    out = summary(capsys)
    assert out.startswith("yts: run ") and "FAILED" in out.splitlines()[0]
    assert "is not valid JSON" in out and "restore it from a backup" in out
    assert "Traceback" not in out


def test_a_bare_memory_error_is_named_in_the_summary(project: ProjectPaths, home, capsys, monkeypatch):
    def exhausted(*_args, **_kwargs):
        raise MemoryError

    monkeypatch.setattr("yts_assets.defs.data.assets.process", exhausted)
    assert main([]) == 1
    out = summary(capsys)
    assert "FAILED step processed_channels: MemoryError" in out
    assert "active run id: none (unchanged by this run)" in out


@pytest.mark.slow
def test_a_failed_read_names_the_file_it_tried_not_the_last_runs(project: ProjectPaths, home, capsys, monkeypatch):
    assert main([]) == 0
    assert "data source: DEMO" in summary(capsys)
    monkeypatch.setenv("YTS_DATA_PATH", "/missing/youtube.csv")
    assert main([]) == 1
    out = summary(capsys)
    assert "data source: not read; tried /missing/youtube.csv (YTS_DATA_PATH)" in out
    assert "data source: DEMO" not in out
    assert "FAILED step raw_youtube_stats: YTS_DATA_PATH points to /missing/youtube.csv" in out


def test_a_crash_before_the_run_starts_still_prints_the_summary(project: ProjectPaths, home, capsys, monkeypatch):
    monkeypatch.setenv("YTS_EXECUTOR", "threads")
    assert main([]) == 1
    out = summary(capsys)
    assert "yts: run (not started) FAILED" in out
    assert "ConfigError: YTS_EXECUTOR='threads' is not one of in_process, multiprocess" in out


@pytest.mark.slow
def test_runs_left_started_by_a_killed_yts_run_are_marked_failed(project: ProjectPaths, home, capsys):
    import socket

    from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

    home.mkdir(parents=True, exist_ok=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_run(DagsterRun(job_name="training_job", run_id="killed-run", status=DagsterRunStatus.STARTED,
                                    tags={"yts/launcher": "yts-run", "yts/pid": str(dead.pid),
                                          "yts/host": socket.gethostname()}))
        instance.add_run(DagsterRun(job_name="training_job", run_id="other-launcher", status=DagsterRunStatus.STARTED))
    assert main([]) == 0
    assert "repaired: run killed-run was interrupted; marked FAILURE" in summary(capsys)
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id("killed-run").status == DagsterRunStatus.FAILURE
        assert instance.get_run_by_id("other-launcher").status == DagsterRunStatus.STARTED  # not ours: untouched
