"""Time the shared drift check on a batch of 500 records, in-process, and print the median.

    .venv/bin/python benchmarks/bench_drift.py --records 500 --repeat 200
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from yts_assets.core import config
from yts_assets.core.paths import ProjectPaths
from yts_assets.ml.dataset import load_raw, process
from yts_assets.ml.demo import demo_csv_bytes
from yts_assets.ml.drift import drift_report
from yts_assets.ml.reports import training_baseline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    source = config.DATA_PATH.get() or ProjectPaths.from_env().default_real_csv
    raw = load_raw(source) if source.is_file() else load_raw(Path("demo"), demo_csv_bytes())
    print(f"data: {raw.path}")
    processed = process(raw.frame).frame
    baseline = json.loads(json.dumps(training_baseline(processed)))
    rows = processed[["uploads", "age", "category", "country"]].dropna().sample(args.records, replace=True, random_state=0)
    records = json.loads(rows.to_json(orient="records"))
    drift_report(records, baseline)
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        drift_report(records, baseline)
        timings.append((time.perf_counter() - started) * 1000)
    print(f"drift_report, {args.records} records, {args.repeat} repeats ({'real' if source.is_file() else 'demo'} baseline): "
          f"median {statistics.median(timings):.2f} ms (p95 {sorted(timings)[int(0.95 * len(timings)) - 1]:.2f} ms) "
          f"on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
