"""Service settings, read from the environment (yts_assets.core.config) once at start-up."""

from __future__ import annotations

import multiprocessing
import tempfile
from dataclasses import dataclass
from pathlib import Path

from yts_assets.core import config
from yts_assets.core.paths import ProjectPaths

MULTIPROC_DIR = config.PROMETHEUS_MULTIPROC_DIR
MULTIPROC_PARENT = config.PROMETHEUS_MULTIPROC_PARENT

SERVER_PREFIX = "yts-prometheus-"  # a server's folder of metric files: <parent>/yts-prometheus-<server pid>


@dataclass(frozen=True)
class ServingConfig:
    paths: ProjectPaths
    admin_token: str | None = None
    registry_poll_seconds: float = 1.0
    capture_enabled: bool = True
    capture_dir: Path | None = None
    capture_buffer_records: int = 10_000
    capture_rotate_records: int = 1_000
    capture_rotate_seconds: float = 60.0
    capture_flush_seconds: float = 1.0
    # Several worker processes: their shared folder of metric files (None: one process, metrics in memory), and the
    # pid of the server whose folder yts manages (None: whoever named the folder manages it: gunicorn.conf.py).
    multiprocess_dir: Path | None = None
    multiprocess_server_pid: int | None = None
    # After each run is loaded, move the live heap out of the cyclic garbage collector's reach (app.settle_heap).
    # On for a server (from_env); off for apps built in a test process, whose heap is the whole test session's.
    freeze_heap: bool = False

    @property
    def incoming_dir(self) -> Path:
        return self.capture_dir or self.paths.incoming_dir

    @classmethod
    def from_env(cls) -> "ServingConfig":
        return cls(
            paths=ProjectPaths.from_env(),
            admin_token=config.ADMIN_TOKEN.get(),
            registry_poll_seconds=config.REGISTRY_POLL_SECONDS.get(),
            capture_enabled=config.CAPTURE_ENABLED.get(),
            capture_dir=config.CAPTURE_DIR.get(),
            capture_buffer_records=config.CAPTURE_BUFFER_RECORDS.get(),
            capture_rotate_records=config.CAPTURE_ROTATE_RECORDS.get(),
            capture_rotate_seconds=config.CAPTURE_ROTATE_SECONDS.get(),
            capture_flush_seconds=config.CAPTURE_FLUSH_SECONDS.get(),
            freeze_heap=True,
            **multiprocess_settings(),
        )


def multiprocess_parent() -> Path:
    return MULTIPROC_PARENT.get() or Path(tempfile.gettempdir())


def multiprocess_settings() -> dict[str, object]:
    """PROMETHEUS_MULTIPROC_DIR when set; else, in a worker that a server process started (`uvicorn --workers N`
    spawns its workers with multiprocessing), that server's folder; else nothing: one process."""
    named = MULTIPROC_DIR.get()
    if named is not None:
        return {"multiprocess_dir": named}
    server = multiprocessing.parent_process()
    if server is None or server.pid is None:
        return {}
    return {"multiprocess_dir": multiprocess_parent() / f"{SERVER_PREFIX}{server.pid}",
            "multiprocess_server_pid": server.pid}
