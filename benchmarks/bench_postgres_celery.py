"""Time training_job on Postgres with its steps on Celery workers against the default in-process `yts-run`.

    .venv/bin/python benchmarks/bench_postgres_celery.py --runs 3
    .venv/bin/python benchmarks/bench_postgres_celery.py --runs 3 --data ''     # the demo data

Same sitting, same data, each side in a fresh temporary project:
- `yts-run`: --runs timed runs in new processes (imports included) after one untimed warm-up, on SQLite under a
  temporary DAGSTER_HOME, the in-process executor (the default);
- deploy/scale/run_on_postgres_celery.py --runs N --in-process-runs N: one throwaway Postgres, Redis and 2 Celery
  workers (started once; their start-up is reported apart), then N `dagster job execute` runs with
  YTS_EXECUTOR=celery, then N with the in-process executor on the same Postgres instance, which tells the cost
  of the storage from the cost of the executor. Each run is a new process too, timed from its start to its exit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def yts_run(env: dict[str, str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run([str(BIN / "yts-run")], env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"yts-run failed: {completed.stdout[-2000:]} {completed.stderr[-2000:]}")
    return elapsed


def summary(name: str, values: list[float]) -> str:
    return (f"{name}: median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, "
            f"{len(values)} runs)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "Global YouTube Statistics.csv"),
                        help="CSV to train on; an empty string for the demo data")
    args = parser.parse_args()
    base = {key: value for key, value in os.environ.items() if not key.startswith(("YTS_", "DAGSTER_"))}
    if args.data:
        base["YTS_DATA_PATH"] = args.data
    with tempfile.TemporaryDirectory(prefix="yts-bench-pg-celery-") as scratch:
        root = Path(scratch)
        (root / "local").mkdir()
        local = {**base, "YTS_PROJECT_ROOT": str(root / "local"), "YTS_ARTIFACT_DIR": str(root / "local" / "artifacts"),
                 "DAGSTER_HOME": str(root / "local" / "dagster_home")}
        yts_run(local)  # warm-up: creates the SQLite instance
        local_times = []
        for run in range(1, args.runs + 1):
            local_times.append(yts_run(local))
            print(f"yts-run (in-process, SQLite) run {run}: {local_times[-1]:.2f} s", flush=True)
        report_path = root / "report.json"
        completed = subprocess.run(
            [sys.executable, str(REPO / "deploy" / "scale" / "run_on_postgres_celery.py"), "--project-root",
             str(root / "scaled"), "--runs", str(args.runs), "--in-process-runs", str(args.runs), "--json",
             str(report_path)], env=base, capture_output=True, text=True, timeout=600 + 300 * args.runs)
        if not report_path.is_file() or not json.loads(report_path.read_text())["runs"]:
            print(completed.stdout[-4000:], completed.stderr[-4000:], file=sys.stderr)
            return 1
        report = json.loads(report_path.read_text())
    failed = [run for run in report["runs"] if run["status"] != "SUCCESS"]
    for run in failed:
        print(f"FAILED: run {run['run_id']} ({run['executor']} executor): {run['status']} after {run['seconds']:.1f} s; "
              "left out of the medians")
    celery = [run["seconds"] for run in report["runs"] if run["executor"] == "celery" and run not in failed]
    postgres_in_process = [run["seconds"] for run in report["runs"] if run["executor"] == "in_process"
                           and run not in failed]
    for name, values in (("celery", celery), ("in_process", postgres_in_process)):
        for run, seconds in enumerate(values, start=1):
            print(f"dagster job execute on Postgres, {name} executor, run {run}: {seconds:.2f} s")
    print(f"\n{'real' if args.data else 'demo'} data, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"Postgres {report['postgres_version'].split()[0]}, {report['workers']} Celery workers (solo pool)")
    print(summary("yts-run, in-process executor, SQLite instance", local_times))
    print(summary("training_job, in-process executor, Postgres instance", postgres_in_process))
    print(summary("training_job, Celery executor (2 workers over Redis), Postgres instance", celery))
    print(f"ratio Celery+Postgres / yts-run: {statistics.median(celery) / statistics.median(local_times):.2f}; "
          f"starting Postgres, Redis and the workers: {report['setup_seconds']:.1f} s (once)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
