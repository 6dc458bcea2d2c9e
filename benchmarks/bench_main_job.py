"""Time the main job (`yts-run`) end to end in a fresh process, and print the median.

    .venv/bin/python benchmarks/bench_main_job.py --runs 5 --data "../shared/data/Global YouTube Statistics.csv"
    .venv/bin/python benchmarks/bench_main_job.py --runs 5 --baseline-rev 774f8b7   # interleaved, with the ratio
    .venv/bin/python benchmarks/bench_main_job.py --runs 7 --original /tmp/original --original-python /tmp/origvenv/bin/python
    .venv/bin/python benchmarks/bench_main_job.py --runs 5 --in-process-too   # also YTS_WORKERS=0, interleaved
    .venv/bin/python benchmarks/bench_main_job.py --runs 7 --dagster-floor --original /tmp/original ...  # Dagster alone too

Each run is a new Python process (imports included), writing to a temporary artifact folder
and DAGSTER_HOME. One untimed warm-up run per side creates the instance database first. With
--baseline-rev, that git revision is checked out into a temporary worktree and put first on
PYTHONPATH, and its runs alternate with this checkout's, so both see the same machine load.
With --original, a checkout of the platform yts replaces (hoangsonww/YouTube-Success-Prediction-ML, installed
in the interpreter given by --original-python) runs `python -m youtube_success_ml.train --run-all --skip-maps`
on the same CSV in the same rounds; it is only timed, nothing of it is imported here.
With --dagster-floor, `benchmarks/dagster_floor.py` runs in the same rounds too: Dagster alone running a job of the
training job's shape whose steps do nothing, on an instance configured as yts-run's; yts-run's median minus its
median is the time yts's own code takes.
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

from dagster_floor import prepare_home, write_shape

REPO = Path(__file__).resolve().parents[1]
ENTRY_MODULES = ("yts_assets.cli.run", "yts_assets.main")  # the main job's module, newest layout first


def entry_module(tree: Path) -> str:
    return next(m for m in ENTRY_MODULES if (tree / (m.replace(".", "/") + ".py")).is_file())


ORIGINAL = "original"
IN_PROCESS = "this checkout, YTS_WORKERS=0"
DAGSTER_FLOOR = "Dagster alone, the training job's shape, steps doing nothing"


def command_for(name: str, tree: Path, data_source: str, original_python: str, shape: Path | None = None) -> list[str]:
    if name == ORIGINAL:
        return [original_python, "-m", "youtube_success_ml.train", "--run-all", "--skip-maps"]
    if name == DAGSTER_FLOOR:
        return [sys.executable, str(tree / "benchmarks" / "dagster_floor.py"), str(shape)]
    return [sys.executable, "-m", entry_module(tree), "--data-source", data_source]


def timed_run(command: list[str], tree: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, env={**env, "PYTHONPATH": str(tree / "src" if (tree / "src").is_dir() else tree)},
                               cwd=tree, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{tree}: {completed.stdout[-2000:]} {completed.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "Global YouTube Statistics.csv"),
                        help="CSV to train on; pass an empty string for the demo data")
    parser.add_argument("--baseline-rev", help="a git revision to time in the same sitting, interleaved")
    parser.add_argument("--original", type=Path, help="a checkout of the original platform, timed interleaved")
    parser.add_argument("--in-process-too", action="store_true",
                        help="also time this checkout with YTS_WORKERS=0 (no worker pool), interleaved")
    parser.add_argument("--dagster-floor", action="store_true",
                        help="also time Dagster alone running the training job's shape (benchmarks/dagster_floor.py)")
    parser.add_argument("--original-python", help="the interpreter the original is installed in "
                                                  "(default: ORIGINAL/.venv/bin/python)")
    args = parser.parse_args()
    if args.original and not args.data:
        parser.error("--original needs the real CSV (--data)")
    data_source = "real" if args.data else "demo"
    with tempfile.TemporaryDirectory(prefix="yts-bench-") as scratch:
        trees = {"this checkout": REPO}
        if args.in_process_too:
            trees[IN_PROCESS] = REPO
        if args.baseline_rev:
            worktree = Path(scratch) / "baseline"
            subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.baseline_rev], cwd=REPO,
                           check=True, capture_output=True)
            trees[args.baseline_rev] = worktree
        if args.original:
            trees[ORIGINAL] = args.original.resolve()
        shape = None
        if args.dagster_floor:
            trees[DAGSTER_FLOOR] = REPO
            shape = Path(scratch) / "training_job_shape.json"
            write_shape(shape)  # imports this checkout's definitions here, untimed
        original_python = args.original_python or str((args.original or Path(".")) / ".venv" / "bin" / "python")
        try:
            timings: dict[str, list[float]] = {name: [] for name in trees}
            envs = {}
            for index, name in enumerate(trees):
                envs[name] = {**os.environ, "YTS_ARTIFACT_DIR": f"{scratch}/artifacts-{index}",
                              "DAGSTER_HOME": f"{scratch}/dagster_home-{index}", "YTS_PROJECT_ROOT": str(REPO)}
                envs[name].pop("YTS_DATA_PATH", None)
                envs[name].pop("YTS_WORKERS", None)
                if name == IN_PROCESS:
                    envs[name]["YTS_WORKERS"] = "0"
                if args.data:
                    envs[name]["YTS_DATA_PATH"] = args.data
                if name == DAGSTER_FLOOR:
                    prepare_home(Path(envs[name]["DAGSTER_HOME"]))
                timed_run(command_for(name, trees[name], data_source, original_python, shape), trees[name],
                          envs[name])  # warm-up
            for run in range(1, args.runs + 1):
                for name, tree in trees.items():
                    timings[name].append(timed_run(command_for(name, tree, data_source, original_python, shape), tree,
                                                   envs[name]))
                    print(f"run {run} {name}: {timings[name][-1]:.2f} s")
        finally:
            if args.baseline_rev:
                subprocess.run(["git", "worktree", "remove", "--force", str(trees[args.baseline_rev])], cwd=REPO,
                               capture_output=True)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    for name, values in timings.items():
        print(f"main job ({name}), fresh process, {data_source} data, {args.runs} runs: median {medians[name]:.2f} s "
              f"(min {min(values):.2f}, max {max(values):.2f}) on {os.cpu_count()} cores, Python {platform.python_version()}")
    if args.baseline_rev:
        print(f"ratio this checkout / {args.baseline_rev}: {medians['this checkout'] / medians[args.baseline_rev]:.2f}")
    if args.in_process_too:
        print(f"ratio worker pool / YTS_WORKERS=0: {medians['this checkout'] / medians[IN_PROCESS]:.2f}")
    if args.dagster_floor:
        own = medians["this checkout"] - medians[DAGSTER_FLOOR]
        print(f"Dagster alone: {medians[DAGSTER_FLOOR]:.2f} s; yts's own part of yts-run: {own:.2f} s"
              + (f" ({own / medians[ORIGINAL]:.2f} of the original's whole run)" if args.original else ""))
    if args.original:
        ratio = medians["this checkout"] / medians[ORIGINAL]
        print(f"ratio yts-run / original train.py --run-all --skip-maps: {ratio:.2f} "
              f"({'not slower' if ratio <= 1 else 'SLOWER'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
