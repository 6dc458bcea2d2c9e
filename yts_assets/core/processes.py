"""Processes on this host."""

from __future__ import annotations

import gc
import os

# Dagster, pandas and scikit-learn allocate millions of long-lived objects while importing and running: with
# Python's default (700, 10, 10) the collector walks them again and again (~0.7 s of a 6 s yts-run).
FEW_COLLECTIONS = (50_000, 20, 20)


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (someone else's counts: signal 0 is only refused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collect_less() -> None:
    """Collect cyclic garbage less often, for short batch processes (yts-run and its workers)."""
    gc.set_threshold(*FEW_COLLECTIONS)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
