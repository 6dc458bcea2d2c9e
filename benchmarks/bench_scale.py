"""Train the whole graph on jittered upsamples of the real CSV and print time and peak RSS per step.

    .venv/bin/python benchmarks/bench_scale.py                      # 1k, 10k, 100k, 1M rows
    .venv/bin/python benchmarks/bench_scale.py --rows 10000 100000

Each size runs `training_job` in a fresh process (imports included) on its own project folder and
Dagster instance. An upsample draws rows of the real CSV with replacement, multiplies every count by
a lognormal factor (sigma 0.1) and gives each row a unique channel name, so the data keeps the real
distributions without duplicate channels. Per step: wall time from Dagster's step events, and the
process's peak RSS when the step ended (the high-water mark so far, so the step that raised it shows).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "Global YouTube Statistics.csv"
JITTERED = ("subscribers", "video views", "uploads", "video_views_for_the_last_30_days", "lowest_monthly_earnings",
            "highest_monthly_earnings", "lowest_yearly_earnings", "highest_yearly_earnings",
            "subscribers_for_last_30_days")


def upsample(source: Path, rows: int, target: Path, seed: int = 7) -> None:
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(source, encoding="latin-1")
    rng = np.random.default_rng(seed)
    sample = frame.iloc[rng.integers(0, len(frame), rows)].reset_index(drop=True)
    for column in JITTERED:
        values = pd.to_numeric(sample[column], errors="coerce")
        sample[column] = np.round(values * rng.lognormal(0.0, 0.1, rows))
    sample["Youtuber"] = sample["Youtuber"].astype(str) + " #" + pd.Series(np.arange(rows)).astype(str)
    sample["rank"] = np.arange(1, rows + 1)
    sample.to_csv(target, index=False, encoding="utf-8")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(csv: Path) -> None:
    started = time.perf_counter()
    from dagster import DagsterInstance, HookContext, success_hook

    from yts_assets.definitions import TRAINING_JOB, build_definitions

    peaks: dict[str, float] = {}

    @success_hook
    def record_peak(context: HookContext) -> None:
        peaks[context.step_key] = peak_rss_mb()

    imported = time.perf_counter() - started
    job = build_definitions().resolve_job_def(TRAINING_JOB).with_hooks({record_peak})
    result = job.execute_in_process(instance=DagsterInstance.get(), raise_on_error=False)
    steps = [(event.step_key, event.event_specific_data.duration_ms / 1000, peaks.get(event.step_key, 0.0))
             for event in result.all_events if event.event_type_value == "STEP_SUCCESS"]
    failures = [f"{e.step_key}: {e.event_specific_data.error.message[:300]}" for e in result.all_events
                if e.event_type_value == "STEP_FAILURE"]
    print(json.dumps({"success": result.success, "seconds": time.perf_counter() - started, "imports": imported,
                      "peak_rss_mb": peak_rss_mb(), "steps": steps, "failures": failures}))


def run_size(rows: int, data: Path, scratch: Path) -> dict:
    folder = scratch / f"rows-{rows}"
    folder.mkdir()
    csv = folder / "upsample.csv"
    upsample(data, rows, csv)
    (folder / "dagster_home").mkdir()
    env = {**os.environ, "YTS_DATA_PATH": str(csv), "YTS_PROJECT_ROOT": str(folder),
           "DAGSTER_HOME": str(folder / "dagster_home"), "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, __file__, "--child", str(csv)], env=env, capture_output=True, text=True,
                               timeout=1800, cwd=folder)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-3000:])
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    report["wall"] = wall
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    summary = []
    with tempfile.TemporaryDirectory(prefix="yts-scale-") as scratch:
        for rows in args.rows:
            report = run_size(rows, args.data, Path(scratch))
            summary.append((rows, report))
            print(f"\n{rows:,} rows: {'ok' if report['success'] else 'FAILED'} in {report['wall']:.1f} s wall "
                  f"(imports {report['imports']:.1f} s), peak RSS {report['peak_rss_mb']:,.0f} MB")
            for failure in report["failures"]:
                print(f"  FAILED {failure}")
            for step, seconds, rss in sorted(report["steps"], key=lambda s: -s[1])[:12]:
                print(f"  {step:<40}{seconds:>8.2f} s{rss:>10,.0f} MB peak so far")
    print("\n| rows | wall | peak RSS | slowest step |\n| ---: | ---: | ---: | --- |")
    for rows, report in summary:
        step, seconds, _ = max(report["steps"], key=lambda s: s[1], default=("none", 0.0, 0.0))
        print(f"| {rows:,} | {report['wall']:.1f} s | {report['peak_rss_mb']:,.0f} MB | {step} {seconds:.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
