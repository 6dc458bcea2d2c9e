"""Crash tests: a subprocess preamble whose `counted(f)` wraps a function so the process kills itself (SIGKILL)
at its `sys.argv[1]`-th call of any counted function, to test every point of a write sequence."""

COUNTED_KILL = """
import os, shutil, signal, sys
kill_at, calls = int(sys.argv[1]), 0

def counted(function):
    def call(*args, **kwargs):
        global calls
        calls += 1
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)
    return call
"""
