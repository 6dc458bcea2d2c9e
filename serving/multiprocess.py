"""Prometheus metrics when the API runs as several worker processes (`uvicorn --workers N`, gunicorn).

prometheus-client's multiprocess mode: every worker writes its counters, histograms and gauges to its own
mmap files (`<kind>_<pid>.db`) in one folder, and whichever worker answers a scrape merges all of them, so
`http_requests_total` is the server's count, not one worker's.

The folder belongs to one server (uvicorn's supervisor or gunicorn's master, `server_pid`):
`<YTS_PROMETHEUS_MULTIPROC_DIR, else the temp folder>/yts-prometheus-<server pid>`. Whoever comes first (a
uvicorn worker, or gunicorn's master in deploy/gunicorn.conf.py) creates it under a lock, empties a folder
that an earlier server with the same pid left (a marker names the server: its pid and start time), and
removes the folders of servers that are gone. A worker that dies keeps its counts (its counter and histogram
files stay, so totals never go back) and loses its live gauges (`mark_process_dead`), whether the server
reports the exit (gunicorn's `child_exit`) or a scrape finds the process gone (`sweep`, for uvicorn).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from yts_assets.core.processes import process_alive

from .config import MULTIPROC_DIR, SERVER_PREFIX

MARKER = "server.id"
TRAFFIC_PREFIX = "traffic_"  # a worker's traffic window (observability.TrafficWindow), beside the .db files
PID_IN_NAME = re.compile(r"_(\d+)\.(?:db|json)$")


def identity(pid: int) -> str:
    """A process's pid and start time (clock ticks since boot, from /proc where there is one): unique over time."""
    try:
        started = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        started = "?"
    return f"{pid} {started}"


@contextmanager
def locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def server_dir(parent: Path, server_pid: int) -> Path:
    """The folder of server `server_pid` under `parent`: created (or emptied, when an earlier server with that pid
    left it) the first time any of its processes asks; folders of servers that are gone are removed."""
    parent.mkdir(parents=True, exist_ok=True)
    folder = parent / f"{SERVER_PREFIX}{server_pid}"
    server = identity(server_pid)
    with locked(parent / f".{SERVER_PREFIX}lock"):
        for other in parent.glob(f"{SERVER_PREFIX}*"):
            pid = other.name.removeprefix(SERVER_PREFIX)
            if other != folder and pid.isdigit() and other.is_dir() and not process_alive(int(pid)):
                shutil.rmtree(other, ignore_errors=True)
        marker = folder / MARKER
        try:
            current = marker.read_text()
        except OSError:
            current = None
        if current != server:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            marker.write_text(server)
    return folder


def use_multiprocess_values(folder: Path) -> None:
    """Make the metrics this process creates from now on write to `folder` (prometheus-client reads the
    variable for their file names, and picks its value class when it is first imported, perhaps before this)."""
    from prometheus_client import values

    MULTIPROC_DIR.set(str(folder))
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()


def worker_gone(pid: int, folder: Path) -> None:
    """A worker exited: drop its live gauges and its traffic window; its counts stay."""
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(pid, str(folder))
    (folder / f"{TRAFFIC_PREFIX}{pid}.json").unlink(missing_ok=True)


def metric_files(folder: Path) -> list[str]:
    """The metric files a scrape merges: not one a starting worker has created and not yet sized (it would not
    parse: prometheus-client's own collector fails the scrape on it)."""
    files = []
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                if entry.name.endswith(".db") and entry.stat().st_size > 0:
                    files.append(entry.path)
            except FileNotFoundError:  # a live gauge file removed for an exited worker
                continue
    return files


def sweep(folder: Path) -> None:
    """`worker_gone` for every process that left files in `folder` and is no longer running (uvicorn does not
    report its workers' exits); called at scrape."""
    pids = {int(match.group(1)) for name in os.listdir(folder) if (match := PID_IN_NAME.search(name))}
    for pid in pids - {os.getpid()}:
        if not process_alive(pid):
            worker_gone(pid, folder)
