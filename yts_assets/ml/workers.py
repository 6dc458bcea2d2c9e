"""CPU-bound work on every core without a process per step: a few worker processes forked by a forkserver.

scikit-learn's fits on request-sized data hold the GIL (threads gain nothing), so the clustering and supervised
fits, the model files' serialization and the metadata pictures run in worker processes when a pool is started. The
run process never forks itself: it holds OpenMP, BLAS and jemalloc threads, and a forked copy of such a process can
deadlock. The forkserver is a fresh interpreter that only imports (worker_imports.py: scikit-learn, skops,
matplotlib, ~1.3 s paid on another core while the run process loads Dagster and the code location) and forks each
worker from that quiet state. Fitted models come back as bytes and are put together, serialized and loaded again
in the workers (training.py, clustering.py, model_quality.py), so the run process imports none of scikit-learn,
SciPy, skops and matplotlib (with MLflow tracking on it does: MLflow loads the logged model to check it).

`yts-run` starts a pool first thing on a machine with two cores or more (YTS_WORKERS=N: N workers; 0: none).
Anywhere else (tests, the Dagster webserver's runs) `run_all` and `submit` run in the calling process, unchanged.
Workers exit when the process that started them is gone.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from ..core.processes import process_alive, usable_cores

PRELOAD = ("yts_assets.ml.worker_imports",)
PARENT_POLL_SECONDS = 0.5
Result = TypeVar("Result")
log = logging.getLogger(__name__)

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()
_thread_limits: Any = None  # keeps a worker's BLAS/OpenMP limit alive; set only in a worker


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(PARENT_POLL_SECONDS)
        if not process_alive(parent_pid):
            os._exit(1)  # the run process was killed: nothing will collect this worker's results


def _initialize_worker(parent_pid: int) -> None:
    global _thread_limits
    from threadpoolctl import threadpool_limits

    _thread_limits = threadpool_limits(limits=1)  # the pool is the parallelism; no OpenMP/BLAS threads on top
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="yts-parent-watch", daemon=True).start()


def start(workers: int | None = None) -> ProcessPoolExecutor:
    """Start the forkserver (it imports PRELOAD in the background) and the pool; idempotent."""
    global _pool
    with _pool_lock:
        if _pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(list(PRELOAD))
            from multiprocessing import forkserver

            forkserver.ensure_running()  # returns at once; the server imports on its own core
            count = workers or usable_cores()
            _pool = ProcessPoolExecutor(max_workers=count, mp_context=context, initializer=_initialize_worker,
                                        initargs=(os.getpid(),))
            threading.Thread(target=_fork_workers, args=(_pool, count), name="yts-fork-workers", daemon=True).start()
        return _pool


def _fork_workers(pool: ProcessPoolExecutor, count: int) -> None:
    """Fork every worker as soon as the server has imported (a submit waits for that), not at the first real job."""
    try:
        for _ in range(count):
            pool.submit(os.getpid)
    except RuntimeError:  # stopped meanwhile
        pass


def stop() -> None:
    """Stop the pool (waiting for its workers), then the forkserver."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
        _stop_forkserver()


def _stop_forkserver() -> None:
    """End the forkserver now. It only holds imports; left alone it exits after this process does, by tearing down
    every module it imported (~0.5 s in which it still holds this process's stdout and stderr, so that a caller
    reading them waits). multiprocessing starts a new one when a pool next needs it."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if pid is None or not hasattr(server, "_stop"):
        return
    try:
        os.kill(pid, signal.SIGTERM)  # no handler there: it ends at once
    except ProcessLookupError:
        pass
    server._stop()  # reaps it and forgets its socket


atexit.register(stop)  # a pool still running at exit (a caller that never stopped it) is stopped, and its server


def running() -> bool:
    return _pool is not None


def in_worker() -> bool:
    """True in a pool worker: its job gets one core, the pool is the parallelism."""
    return _thread_limits is not None


def submit(function: Callable[..., Result], *args: Any) -> Future[Result]:
    """`function(*args)` in a worker when the pool runs (collect with .result()), else computed now."""
    pool = _pool
    if pool is not None:
        try:
            return pool.submit(function, *args)
        except (BrokenProcessPool, RuntimeError) as exc:  # a worker died earlier, or the pool is shutting down
            log.warning("worker pool unusable (%s): running %s in this process", exc, function.__name__)
    done: Future[Result] = Future()
    try:
        done.set_result(function(*args))
    except BaseException as exc:  # noqa: BLE001 - raised again by .result(), as the pool would
        done.set_exception(exc)
    return done


def run_all(function: Callable[..., Result], jobs: Iterable[tuple[Any, ...]]) -> list[Result]:
    """`function(*job)` for every job, in order: spread over the workers when the pool runs."""
    futures = [submit(function, *job) for job in jobs]
    return [future.result() for future in futures]
