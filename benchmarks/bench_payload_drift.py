"""Time the payload drift pass over one day of captured records, and print the median and the peak RSS.

    .venv/bin/python benchmarks/bench_payload_drift.py                      # 1,000,000 records, both modes
    .venv/bin/python benchmarks/bench_payload_drift.py --records 100000 --mode functions --repeat 5

Generates N records (rows of the demo data, with the capture's `run_id` and `received_at`) in a temporary
project, as the API's capture writes them: `data/incoming/capture-<UTC stamp>-<pid>.jsonl`, --batch-records
per file (YTS_CAPTURE_ROTATE_RECORDS, 1,000 by default), all stamped on one UTC day. Then, each run in a new
Python process (so its peak RSS is its own; imports included):

- `functions`: what the asset and its check call: `measure_day` (read, validate, CSV, rejected lines, drift
  statistics, report) and `judge_day`, against a baseline computed from the demo data;
- `materialize`: a real `drift_job` run of that day's partition (production_payloads and payload_drift) on an
  ephemeral instance, after one untimed training run (demo data) that gives it an active run to compare with.

The time is the pass's wall time (for `materialize`, the whole in-process run); the peak RSS is the process's
VmHWM, interpreter and imports included.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def peak_rss_mib() -> float:
    status = Path("/proc/self/status")
    if status.is_file() and (found := re.search(r"VmHWM:\s+(\d+) kB", status.read_text())):
        return int(found.group(1)) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def demo_rows() -> list[dict]:
    from yts_assets.ml.dataset import load_raw, process
    from yts_assets.ml.demo import demo_csv_bytes

    processed = process(load_raw(Path("demo"), demo_csv_bytes()).frame).frame
    return json.loads(processed[["uploads", "age", "category", "country"]].dropna().to_json(orient="records"))


def demo_baseline() -> dict:
    from yts_assets.ml.dataset import load_raw, process
    from yts_assets.ml.demo import demo_csv_bytes
    from yts_assets.ml.reports import training_baseline

    return json.loads(json.dumps(training_baseline(process(load_raw(Path("demo"), demo_csv_bytes()).frame).frame)))


def generate(incoming: Path, day: str, records: int, batch_records: int) -> int:
    """Capture-style batch files spread over the day; returns the bytes written."""
    incoming.mkdir(parents=True, exist_ok=True)
    rows, rng = demo_rows(), random.Random(0)
    start = datetime.fromisoformat(day).replace(tzinfo=timezone.utc)
    files = -(-records // batch_records)
    written = 0
    for index in range(files):
        opened = start + timedelta(seconds=index * 86_000 / files)
        stamp = opened.strftime("%Y%m%dT%H%M%S%fZ")
        received = opened.isoformat(timespec="milliseconds")
        count = min(batch_records, records - index * batch_records)
        text = "".join(json.dumps({**rng.choice(rows), "run_id": "bench", "received_at": received},
                                  separators=(",", ":")) + "\n" for _ in range(count))
        (incoming / f"capture-{stamp}-4242.jsonl").write_text(text)
        written += len(text)
    return written


def child(mode: str, root: Path, day: str) -> None:
    os.environ.update({"YTS_PROJECT_ROOT": str(root), "YTS_ARTIFACT_DIR": str(root / "artifacts")})
    os.environ.pop("YTS_DATA_PATH", None)
    if mode == "functions":
        from yts_assets.core.paths import ProjectPaths
        from yts_assets.core.payloads import ReadLimits
        from yts_assets.ml.incoming import judge_day, measure_day
        from yts_assets.ml.policy import DriftThresholds

        baseline = json.loads((root / "baseline.json").read_text())
        paths = ProjectPaths.from_env()
        before = peak_rss_mib()
        started = time.perf_counter()
        measured = measure_day(paths, day, baseline, "bench", DriftThresholds(), ReadLimits.from_env())
        verdict = judge_day(json.loads(measured.report_path.read_text()))
        elapsed = time.perf_counter() - started
        records, worst = measured.report["accepted_records"], verdict.worst
    else:
        from dagster import DagsterInstance

        from yts_assets.definitions import build_definitions

        job = build_definitions().resolve_job_def("drift_job")
        with DagsterInstance.ephemeral() as instance:
            before = peak_rss_mib()
            started = time.perf_counter()
            result = job.execute_in_process(instance=instance, partition_key=day, raise_on_error=False)
            elapsed = time.perf_counter() - started
        assert result.success, "drift_job failed"
        [materialization] = result.asset_materializations_for_node("production_payloads")
        [evaluation] = result.get_asset_check_evaluations()
        records, worst = materialization.metadata["dagster/row_count"].value, evaluation.metadata["worst_severity"].value
    print(json.dumps({"seconds": elapsed, "peak_rss_mib": peak_rss_mib(), "rss_before_mib": before,
                      "records": records, "worst": worst}))


def train(root: Path) -> None:
    env = {**os.environ, "YTS_PROJECT_ROOT": str(root), "YTS_ARTIFACT_DIR": str(root / "artifacts"),
           "DAGSTER_HOME": str(root / "dagster_home")}
    env.pop("YTS_DATA_PATH", None)
    (root / "dagster_home").mkdir(exist_ok=True)
    completed = subprocess.run([sys.executable, "-m", "yts_assets.cli.run", "--data-source", "demo"], cwd=REPO,
                               env=env, capture_output=True, text=True, timeout=900)
    if completed.returncode != 0:
        raise SystemExit(f"training failed: {completed.stdout[-2000:]} {completed.stderr[-2000:]}")


def timed(mode: str, root: Path, day: str) -> dict:
    completed = subprocess.run([sys.executable, __file__, "--child", mode, str(root), day], cwd=REPO,
                               capture_output=True, text=True, timeout=1800)
    if completed.returncode != 0:
        raise SystemExit(f"{mode} run failed: {completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch-records", type=int, default=1_000, help="records per captured file")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mode", choices=("functions", "materialize", "both"), default="both")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "ROOT", "DAY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.child[2])
        return 0
    day = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()
    modes = ("functions", "materialize") if args.mode == "both" else (args.mode,)
    with tempfile.TemporaryDirectory(prefix="yts-bench-drift-") as scratch:
        root = Path(scratch)
        (root / "data").mkdir()
        started = time.perf_counter()
        size = generate(root / "data" / "incoming", day, args.records, args.batch_records)
        print(f"generated {args.records:,} records in {-(-args.records // args.batch_records):,} batch files "
              f"({size / (1 << 20):.0f} MiB) for {day} in {time.perf_counter() - started:.1f} s")
        (root / "baseline.json").write_text(json.dumps(demo_baseline()))
        if "materialize" in modes:
            started = time.perf_counter()
            train(root)
            print(f"trained the active run (demo data, untimed) in {time.perf_counter() - started:.1f} s")
        print(f"python {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}")
        for mode in modes:
            runs = [timed(mode, root, day) for _ in range(args.repeat)]
            seconds = [r["seconds"] for r in runs]
            assert all(r["records"] == args.records for r in runs), runs
            print(f"{mode:>11}: {args.records:,} records, {args.repeat} runs: median {statistics.median(seconds):.2f} s "
                  f"(min {min(seconds):.2f}, max {max(seconds):.2f}), "
                  f"{args.records / statistics.median(seconds):,.0f} records/s; "
                  f"peak RSS {max(r['peak_rss_mib'] for r in runs):.0f} MiB "
                  f"(after imports {max(r['rss_before_mib'] for r in runs):.0f} MiB); worst severity {runs[0]['worst']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
