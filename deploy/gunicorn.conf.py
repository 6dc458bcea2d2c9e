"""gunicorn for production: uvicorn workers, each serving the registry's active run, with one set of metrics.

    .venv/bin/gunicorn -c deploy/gunicorn.conf.py serving.app:app
    .venv/bin/gunicorn -c deploy/gunicorn.conf.py -w 4 -b 0.0.0.0:8000 serving.app:app   # flags override these

Every worker loads and verifies the run itself, watches the registry, captures its own payload batches (its pid
is in their names) and keeps its own traffic window. Prometheus metrics are merged across workers with
prometheus-client's multiprocess mode: the master creates this server's folder of metric files before the first
worker starts (`<YTS_PROMETHEUS_MULTIPROC_DIR or the temp folder>/yts-prometheus-<master pid>`, emptied, and
the folders of servers that are gone removed), exports PROMETHEUS_MULTIPROC_DIR to the workers, drops an exited
worker's live gauges (its counts stay) and removes the folder when it stops.
"""

from __future__ import annotations

import os
import shutil

from serving.config import MULTIPROC_DIR, multiprocess_parent
from serving.multiprocess import server_dir, worker_gone

bind = "127.0.0.1:8000"
workers = 2
worker_class = "uvicorn_worker.UvicornWorker"
# Each worker imports the app after the fork: models are loaded (and metrics created) in the process that serves
# them, never in the master, whose metric files would count as a live worker's.
preload_app = False
graceful_timeout = 30
timeout = 60
accesslog = None
control_socket_disable = True  # no gunicornc socket in $HOME, which two servers on one machine would share


def on_starting(server) -> None:  # noqa: ANN001 - gunicorn's Arbiter
    folder = server_dir(multiprocess_parent(), os.getpid())
    MULTIPROC_DIR.set(str(folder))  # the workers inherit it: their metrics write there
    server.log.info("Prometheus multiprocess folder: %s", folder)


def child_exit(server, worker) -> None:  # noqa: ANN001 - gunicorn's Arbiter and Worker
    folder = MULTIPROC_DIR.get()
    if folder is not None:
        worker_gone(worker.pid, folder)


def on_exit(server) -> None:  # noqa: ANN001 - gunicorn's Arbiter
    folder = MULTIPROC_DIR.get()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
