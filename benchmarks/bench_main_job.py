"""Time the main job (`yts-run`) end to end in a fresh process, and print the median.

    .venv/bin/python benchmarks/bench_main_job.py --runs 5 --data "../shared/data/Global YouTube Statistics.csv"

Each run is a new Python process (imports included), writing to a temporary artifact folder
and DAGSTER_HOME. One untimed warm-up run creates the instance database first.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "Global YouTube Statistics.csv"),
                        help="CSV to train on; pass an empty string for the demo data")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yts-bench-") as scratch:
        env = {**os.environ, "YTS_ARTIFACT_DIR": f"{scratch}/artifacts", "DAGSTER_HOME": f"{scratch}/dagster_home",
               "YTS_PROJECT_ROOT": str(REPO)}
        env.pop("YTS_DATA_PATH", None)
        if args.data:
            env["YTS_DATA_PATH"] = args.data
        command = [sys.executable, "-m", "yts_assets.cli.run", "--data-source", "real" if args.data else "demo"]
        timings = []
        for index in range(args.runs + 1):
            started = time.perf_counter()
            completed = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
            elapsed = time.perf_counter() - started
            if completed.returncode != 0:
                print(completed.stdout, completed.stderr, file=sys.stderr)
                return 1
            if index:
                timings.append(elapsed)
                print(f"run {index}: {elapsed:.2f} s")
    print(f"main job, fresh process, {'real' if args.data else 'demo'} data, {args.runs} runs: "
          f"median {statistics.median(timings):.2f} s (min {min(timings):.2f}, max {max(timings):.2f}) "
          f"on {os.cpu_count()} cores, Python {platform.python_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
