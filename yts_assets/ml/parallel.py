"""Independent CPU-bound tasks on every core, in forked worker processes, without paying for a process per step.

A forked child inherits the parent's imported modules and data (copy-on-write), so a task costs no import and no
pickling of its inputs; only results travel back. Children run with every native thread pool limited to one
thread: GNU OpenMP (scikit-learn's) hangs in a forked child whose parent had started its threads. A process that
runs other Python threads (a webserver, a Postgres-backed instance's watchers) is never forked: a lock held by
another thread at the fork would stay locked in the child forever. There, on one core, or without fork (not
Linux), the tasks run in order. (yts-run executes its steps in a single-threaded process, so it forks.)
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from threadpoolctl import threadpool_limits

T = TypeVar("T")
_TASKS: Sequence[Callable[[], Any]] = ()


def _run(index: int) -> Any:
    with threadpool_limits(limits=1):
        return _TASKS[index]()


def run_all(tasks: Sequence[Callable[[], T]]) -> list[T]:
    """The results of `tasks`, in order, computed on up to os.cpu_count() forked workers."""
    global _TASKS
    workers = min(len(tasks), os.cpu_count() or 1)
    if workers < 2 or threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
        with threadpool_limits(limits=1):
            return [task() for task in tasks]
    _TASKS = tasks
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return pool.map(_run, range(len(tasks)), chunksize=1)
    finally:
        _TASKS = ()
