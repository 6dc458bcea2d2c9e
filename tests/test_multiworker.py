"""Several worker processes (`uvicorn --workers`, gunicorn with deploy/gunicorn.conf.py): every scrape, whichever
worker answers it, gives the server's exact counts; gauges merge by their rule; a worker that dies keeps its counts
and loses its live gauges; the metrics folder is per server, emptied when a server starts (serving/multiprocess.py)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from serving import multiprocess
from tests.servers import REPO, free_port, request, stop_process, wait_for
from tests.test_serving import ITEM
from yts_assets.core.paths import ProjectPaths

PREDICT_OK = ("http_requests_total", (("method", "POST"), ("path", "/predict"), ("status", "200")))
PREDICT_LATENCY = ("http_request_latency_seconds_count", (("method", "POST"), ("path", "/predict")))
REQUESTS = 300


def command(server: str, port: int, workers: int) -> list[str]:
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "serving.app:app", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers), "--log-level", "warning"]
    return [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "-b", f"127.0.0.1:{port}", "-w",
            str(workers), "--log-level", "warning", "serving.app:app"]


@contextlib.contextmanager
def serve(server: str, paths: ProjectPaths, parent: Path, workers: int = 2) -> Iterator[tuple[int, subprocess.Popen]]:
    port = free_port()
    environment = {**os.environ, "YTS_PROJECT_ROOT": str(paths.root), "YTS_ARTIFACT_DIR": str(paths.artifact_dir),
                   "YTS_CAPTURE_DIR": str(paths.root / "incoming"), "YTS_PROMETHEUS_MULTIPROC_DIR": str(parent),
                   "YTS_REGISTRY_POLL_SECONDS": "0.2"}
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(command(server, port, workers), cwd=REPO, env=environment)

    def ready() -> bool:
        assert process.poll() is None, f"{server} exited with {process.returncode}"
        try:
            return request(port, "GET", "/ready")[0] == 200
        except OSError:
            return False

    def all_ready() -> bool:  # /ready is one worker's answer; yts_model_ready is every started worker's
        started = list((parent / f"{multiprocess.SERVER_PREFIX}{process.pid}").glob("gauge_livemin_*.db"))
        return len(started) == workers and scrape(port).get(("yts_model_ready", ())) == 1

    try:
        wait_for(ready, 90, f"{server} /ready")
        wait_for(all_ready, 90, f"all {workers} {server} workers ready")
        yield port, process
    finally:
        stop_process(process, 30)


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    status, _, text = request(port, "GET", "/metrics")
    assert status == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text.decode()) for sample in family.samples}


def per_worker(folder: Path, key: tuple[str, tuple]) -> dict[int, float]:
    """A counter's value in each worker's own file: who served what."""
    counts = {}
    for path in map(Path, multiprocess.metric_files(folder)):
        if path.name.startswith("counter_"):
            merged = {(s.name, tuple(sorted(s.labels.items()))): s.value
                      for family in MultiProcessCollector.merge([str(path)]) for s in family.samples}
            counts[int(path.stem.split("_")[1])] = merged.get(key, 0.0)
    return counts


def predict_many(port: int, count: int, threads: int = 6) -> list[int]:
    """`count` predictions, each on its own connection, from several threads: the kernel spreads the connections
    over the workers."""
    statuses: list[int] = []
    lock = threading.Lock()
    todo = iter(range(count))

    def client() -> None:
        while True:
            with lock:
                if next(todo, None) is None:
                    return
            status = request(port, "POST", "/predict", ITEM)[0]
            with lock:
                statuses.append(status)

    pool = [threading.Thread(target=client) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    return statuses


def assert_exact(port: int, count: int, scrapes: int = 8) -> dict[tuple[str, tuple], float]:
    """Every scrape (each on a new connection, so from either worker) gives the server's totals."""
    for _ in range(scrapes):
        metrics = scrape(port)
        assert metrics[PREDICT_OK] == count and metrics[PREDICT_LATENCY] == count, (metrics.get(PREDICT_OK),
                                                                                     metrics.get(PREDICT_LATENCY))
        assert metrics[("yts_predictions_total", (("endpoint", "predict"),))] == count
        assert metrics[("yts_predicted_value_count", (("target", "subscribers"),))] == count
        assert metrics[("yts_model_ready", ())] == 1
        assert len([key for key in metrics if key[0] == "yts_serving_run_info"]) == 1
    return metrics


@pytest.mark.slow
@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
def test_metrics_are_exact_across_worker_processes(server, trained, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(trained["root"], root)
    paths, parent = ProjectPaths(root=root, artifact_dir=root / "artifacts"), tmp_path / "metrics"
    with serve(server, paths, parent) as (port, process):
        folder = parent / f"{multiprocess.SERVER_PREFIX}{process.pid}"
        assert (folder / multiprocess.MARKER).is_file()
        sent = 0
        while sent < REQUESTS or len([pid for pid, n in per_worker(folder, PREDICT_OK).items() if n]) < 2:
            assert sent < 20 * REQUESTS, f"one worker took every connection: {per_worker(folder, PREDICT_OK)}"
            batch = REQUESTS if sent == 0 else 100  # the kernel hands connections out: usually both at once
            assert predict_many(port, batch) == [200] * batch
            sent += batch
        metrics = assert_exact(port, sent)
        assert metrics[("yts_serving_run_info", (("data_sha256", metrics_label(metrics, "data_sha256")),
                                                 ("run_id", trained["b"]),
                                                 ("trained_at", metrics_label(metrics, "trained_at"))))] == 1
        served = per_worker(folder, PREDICT_OK)
        assert len(served) == 2 and all(served.values()) and sum(served.values()) == sent, served
        # Drift over the inputs of both workers (each publishes its window every second); capture of both.
        window = min(sent, 1_000)
        wait_for(lambda: scrape(port).get(("yts_traffic_drift_records", ())) == window, 15, "merged traffic windows")
        wait_for(lambda: scrape(port).get(("yts_capture_written_records_total", ())) == sent, 15, "capture")
        assert scrape(port)[("yts_registry_swaps_total", ())] == 2  # each worker loaded the run once

        # A worker dies: its counts stay, its live gauges go, its replacement loads the run and is counted too.
        dead = max(served, key=served.get)
        os.kill(dead, signal.SIGKILL)
        wait_for(lambda: len(per_worker(folder, PREDICT_OK)) == 3, 60, "a replacement worker")
        wait_for(lambda: scrape(port)[("yts_registry_swaps_total", ())] == 3, 60, "the replacement's run")
        wait_for(lambda: not list(folder.glob(f"gauge_live*_{dead}.db")), 15, "the dead worker's live gauges gone")
        assert_exact(port, sent)
        assert predict_many(port, 20) == [200] * 20
        assert_exact(port, sent + 20, scrapes=4)
        lint = subprocess.run([shutil.which("promtool") or "promtool", "check", "metrics"], capture_output=True,
                              text=True, input=request(port, "GET", "/metrics")[2].decode(), timeout=30)
        assert lint.returncode == 0, lint.stdout + lint.stderr
    # Every worker writes its own batches, named by its pid; the killed worker's open batch is closed by its
    # replacement.
    batches = list((root / "incoming").glob("capture-*.jsonl")) + list((root / "incoming").glob(".capture-*.part"))
    assert len({re.search(r"-(\d+)\.jsonl", path.name).group(1) for path in batches}) >= 2, batches
    assert sum(len(path.read_text().splitlines()) for path in batches) == sent + 20
    if server == "gunicorn":
        assert not folder.exists()  # on_exit removes it; uvicorn's is removed when the next server starts


def metrics_label(metrics: dict[tuple[str, tuple], float], label: str) -> str:
    [labels] = [dict(key[1]) for key in metrics if key[0] == "yts_serving_run_info"]
    return labels[label]


def test_a_server_folder_is_created_once_and_stale_ones_are_removed(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"{multiprocess.SERVER_PREFIX}{gone.pid}"
    stale.mkdir()
    (stale / "counter_1.db").write_bytes(b"old")
    folder = multiprocess.server_dir(tmp_path, os.getpid())
    assert folder == tmp_path / f"{multiprocess.SERVER_PREFIX}{os.getpid()}" and not stale.exists()
    (folder / "counter_42.db").write_bytes(b"a worker's counts")
    assert multiprocess.server_dir(tmp_path, os.getpid()) == folder  # a second worker of the same server: kept
    assert (folder / "counter_42.db").exists()
    (folder / multiprocess.MARKER).write_text("12345 1")  # an earlier server that had this pid: emptied
    multiprocess.server_dir(tmp_path, os.getpid())
    assert not (folder / "counter_42.db").exists()
    assert (folder / multiprocess.MARKER).read_text() == multiprocess.identity(os.getpid())


def test_a_sweep_drops_the_live_gauges_of_exited_workers_and_keeps_their_counts(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    names = [f"counter_{gone.pid}.db", f"histogram_{gone.pid}.db", f"gauge_livemin_{gone.pid}.db",
             f"gauge_livemax_{gone.pid}.db", f"traffic_{gone.pid}.json", f"gauge_livemin_{os.getpid()}.db"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    started = time.monotonic()
    multiprocess.sweep(tmp_path)
    assert time.monotonic() - started < 5
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [f"counter_{gone.pid}.db", f"histogram_{gone.pid}.db", f"gauge_livemin_{os.getpid()}.db"])
