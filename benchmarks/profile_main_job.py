"""Where the main job's time goes: `yts-run` on the real data in fresh processes, split into phases.

    .venv/bin/python benchmarks/profile_main_job.py --runs 5
    .venv/bin/python benchmarks/profile_main_job.py --runs 5 --workers 0     # everything in the run process

Each run is a new process that wraps `yts_assets.cli.run.main` with wall clocks (nothing in yts changes):
interpreter start and the CLI module's imports, loading Dagster and the definitions, the run itself (its steps from
Dagster's step events, Dagster's work between steps, and of both the event-log writes, timed around the SQLite
storage's store_event), and the summary. Prints the median of every phase, the CPU time of the run process and of
the worker pool (forkserver and workers), and the slowest steps. For the import
tree use `python -X importtime -m yts_assets.cli.run`; for functions, `python -m cProfile -m yts_assets.cli.run`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

DRIVER = r"""
import json, os, sys, time
started = time.perf_counter()
from yts_assets.cli import run as cli
cli.start_workers()  # as main() does first thing, before the imports below (main finds the pool running)
imported = time.perf_counter()
phases = {"cli imports": imported - started}
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
store_event = SqliteEventLogStorage.store_event
writes = [0.0, 0]
def timed_store(self, event):
    begun = time.perf_counter()
    try:
        return store_event(self, event)
    finally:
        writes[0] += time.perf_counter() - begun
        writes[1] += 1
SqliteEventLogStorage.store_event = timed_store
import yts_assets.definitions as definitions
build = definitions.build_definitions
marks = {}
def timed_build(*args, **kwargs):
    begun = time.perf_counter()
    built = build(*args, **kwargs)
    marks["definitions built"] = time.perf_counter()
    marks["definitions"] = marks["definitions built"] - begun
    return built
definitions.build_definitions = timed_build
from dagster import JobDefinition
execute = JobDefinition.execute_in_process
results = []
def timed_execute(self, *args, **kwargs):
    begun = time.perf_counter()
    result = execute(self, *args, **kwargs)
    marks["execute"] = time.perf_counter() - begun
    marks["executed"] = time.perf_counter()
    results.append(result)
    return result
JobDefinition.execute_in_process = timed_execute
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):
    code = cli.main(sys.argv[1:])
finished = time.perf_counter()
cpu = os.times()  # the pool's forkserver and workers are reaped by now: their time is in the children's
result = results[0]
steps = {}
from dagster import DagsterInstance
with DagsterInstance.get() as instance:
    for entry in instance.all_logs(result.run_id):
        event = entry.dagster_event
        if event is not None and event.event_type_value in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
            steps.setdefault(event.step_key, []).append(entry.timestamp)
step_times = {key: max(t) - min(t) for key, t in steps.items()}
phases["Dagster import + definitions before the run"] = marks["definitions built"] - imported - 0.0
phases["run: steps (start to success, their events included)"] = sum(step_times.values())
phases["run: Dagster between steps (its events included)"] = marks["execute"] - sum(step_times.values())
phases["  of the run: event-log writes (%d events)" % writes[1]] = writes[0]
phases["summary"] = finished - marks["executed"]
cpu_seconds = {"run process": cpu.user + cpu.system,
               "forkserver and workers": cpu.children_user + cpu.children_system}
print("PROFILE " + json.dumps({"phases": phases, "steps": step_times, "cpu": cpu_seconds, "main_exit": code,
                              "started": started}),
      flush=True)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, help="YTS_WORKERS for the runs (default: yts-run's, the core count)")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "Global YouTube Statistics.csv"))
    parser.add_argument("--steps", type=int, default=8, help="slowest steps shown")
    args = parser.parse_args()
    phases: dict[str, list[float]] = {}
    steps: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    totals = []
    with tempfile.TemporaryDirectory(prefix="yts-profile-") as scratch:
        env = {**os.environ, "YTS_DATA_PATH": args.data, "YTS_ARTIFACT_DIR": f"{scratch}/artifacts",
               "DAGSTER_HOME": f"{scratch}/dagster_home", "PYTHONPATH": str(REPO)}
        if args.workers is not None:
            env["YTS_WORKERS"] = str(args.workers)
        for run in range(args.runs + 1):  # the first run creates the instance and is not counted
            completed = subprocess.run([sys.executable, "-c", DRIVER, "--data-source", "real"], cwd=REPO, env=env,
                                       capture_output=True, text=True, timeout=600)
            line = next((x for x in completed.stdout.splitlines() if x.startswith("PROFILE ")), None)
            if line is None:
                raise SystemExit(f"run failed: {completed.stdout[-2000:]} {completed.stderr[-2000:]}")
            if run == 0:
                continue
            profile = json.loads(line.removeprefix("PROFILE "))
            for name, seconds in profile["phases"].items():
                phases.setdefault(name, []).append(seconds)
            for name, seconds in profile["steps"].items():
                steps.setdefault(name, []).append(seconds)
            for name, seconds in profile["cpu"].items():
                cpu.setdefault(name, []).append(seconds)
            totals.append(sum(v for k, v in profile["phases"].items() if not k.startswith(" ")))
    workers = "default" if args.workers is None else args.workers
    print(f"yts-run phases, median of {args.runs} fresh processes (YTS_WORKERS={workers}; {os.cpu_count()} cores; "
          "interpreter start-up before the CLI's imports not included):")
    for name, values in phases.items():
        print(f"  {name:<56}{statistics.median(values):>7.2f} s")
    print(f"  {'total':<56}{statistics.median(totals):>7.2f} s")
    cores = os.cpu_count() or 1
    print(f"CPU time, user + system (median; on {cores} cores the wall is at least their sum / {cores}):")
    for name, values in cpu.items():
        print(f"  {name:<56}{statistics.median(values):>7.2f} s")
    print("slowest steps (median wall):")
    for name, values in sorted(steps.items(), key=lambda item: -statistics.median(item[1]))[:args.steps]:
        print(f"  {name:<56}{statistics.median(values):>7.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
