"""The event log with kept-open connections (yts_assets/storage.py): Dagster's files and tables, readable by the
default storage at any time, durable across a kill -9, bounded in open databases."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance, asset, materialize
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from yts_assets import storage

REPO = Path(__file__).resolve().parents[1]


@asset
def small_table() -> int:
    return 3


def home_with_template(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    return home


def test_runs_are_stored_as_dagster_stores_them_and_read_by_its_default_storage(tmp_path, monkeypatch):
    home = home_with_template(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        kept = instance.event_log_storage
        assert isinstance(kept, storage.KeptOpenSqliteEventLogStorage)
        assert kept._base_dir == str(home / "history" / "runs")
        run_ids = [materialize([small_table], instance=instance).run_id for _ in range(storage.KEPT_OPEN + 2)]
        assert len(kept._engines) <= storage.KEPT_OPEN  # the least recently used databases were closed
        plain = SqliteEventLogStorage(str(home / "history" / "runs"))  # while this process keeps its connections
        for run_id in run_ids:
            assert [e.dagster_event_type for e in plain.get_logs_for_run(run_id) if e.dagster_event] == \
                [e.dagster_event_type for e in kept.get_logs_for_run(run_id) if e.dagster_event]
        latest = plain.get_latest_materialization_events([small_table.key])[small_table.key]
        assert latest is not None and latest.run_id == run_ids[-1]
        kept.delete_events(run_ids[-1])
        assert run_ids[-1] not in kept._engines and not kept.get_logs_for_run(run_ids[-1])


KILLED_WRITER = """
import time
from dagster import DagsterInstance, materialize
from tests.test_storage import small_table
with DagsterInstance.get() as instance:
    print(materialize([small_table], instance=instance).run_id, flush=True)
    time.sleep(60)
"""


def test_events_committed_before_a_kill_9_are_all_there(tmp_path):
    """The writer is killed with its connections open (its WAL not checkpointed): nothing it stored is lost."""
    home = home_with_template(tmp_path)
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER], cwd=REPO, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "DAGSTER_HOME": str(home)})
    try:
        run_id = writer.stdout.readline().strip()
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
    assert run_id
    events = [e.dagster_event_type.value for e in SqliteEventLogStorage(str(home / "history" / "runs"))
              .get_logs_for_run(run_id) if e.dagster_event]
    assert {"PIPELINE_START", "ASSET_MATERIALIZATION"} <= set(events) and events[-1] == "PIPELINE_SUCCESS"
