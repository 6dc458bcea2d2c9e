"""Train the whole graph on jittered upsamples of the real CSV and print time and peak RSS per step.

    .venv/bin/python benchmarks/bench_scale.py                      # 1k, 10k, 100k, 1M rows
    .venv/bin/python benchmarks/bench_scale.py --rows 10000 100000
    .venv/bin/python benchmarks/bench_scale.py --rows 100000 1000000 --repeat 3   # medians of 3, interleaved
    .venv/bin/python benchmarks/bench_scale.py --rows 100000 --repeat 3 --baseline-repo ../before  # paired A/B

Each size runs `training_job` in a fresh process (imports included) on its own project folder and
Dagster instance. An upsample draws rows of the real CSV with replacement, multiplies every count by
a lognormal factor (sigma 0.1) and gives each row a unique channel name, so the data keeps the real
distributions without duplicate channels. Per step: wall time from Dagster's step events, and the
process's peak RSS when the step ended (the high-water mark so far, so the step that raised it shows). Like
`yts-run`, a run starts its worker pool first (ml/workers.py; one worker per core on two cores or more);
--workers N starts N, --workers 0 none;
the summed RSS and PSS of the run process and its workers, sampled every 0.1 s, are reported beside the run
process's peak RSS (PSS splits the pages the forkserver's children share, so it is what the processes cost). A run's
wall time is its whole process (imports, Dagster's own work between steps, every step); the upsample is made once
per size, before and outside any timed run. With --repeat, the runs of all sizes alternate (on a shared machine a
burst of load then hits every size alike) and the closing table gives medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
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


class TreeMemory:
    """The memory of this process and every process under it (the worker pool's), sampled every `interval` seconds in
    a thread, as peaks so far: `peak_mb` sums their RSS (a page shared by the forkserver's children counts once per
    process: errs high); `peak_pss_mb` sums their PSS (each shared page split among its sharers: what they cost)."""

    def __init__(self, interval: float = 0.1) -> None:
        import threading

        self.peak_mb, self.peak_pss_mb, self.interval = 0.0, 0.0, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            rss = pss = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    memory = process.memory_full_info()
                except psutil.Error:  # ended between the listing and the reading
                    continue
                rss, pss = rss + memory.rss, pss + getattr(memory, "pss", memory.rss)
            self.peak_mb = max(self.peak_mb, rss / (1 << 20))
            self.peak_pss_mb = max(self.peak_pss_mb, pss / (1 << 20))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def child(csv: Path, workers: int | None) -> None:
    """One run as `yts-run` makes it: its worker pool first (`workers` as YTS_WORKERS; None: yts-run's default),
    then Dagster and the job."""
    started = time.perf_counter()
    memory = TreeMemory()
    if workers is not None:
        os.environ["YTS_WORKERS"] = str(workers)
    from yts_assets.cli import run as cli

    if hasattr(cli, "start_workers"):  # a baseline checkout from before it may not have it
        cli.start_workers()
    from dagster import DagsterInstance, HookContext, success_hook

    from yts_assets.definitions import TRAINING_JOB, build_definitions

    peaks: dict[str, float] = {}
    tree_peaks: dict[str, float] = {}

    @success_hook
    def record_peak(context: HookContext) -> None:
        peaks[context.step_key] = peak_rss_mb()
        tree_peaks[context.step_key] = memory.peak_mb

    imported = time.perf_counter() - started
    job = build_definitions().resolve_job_def(TRAINING_JOB).with_hooks({record_peak})
    result = job.execute_in_process(instance=DagsterInstance.get(), raise_on_error=False)
    steps = [(event.step_key, event.event_specific_data.duration_ms / 1000, peaks.get(event.step_key, 0.0))
             for event in result.all_events if event.event_type_value == "STEP_SUCCESS"]
    failures = [f"{e.step_key}: {e.event_specific_data.error.message[:300]}" for e in result.all_events
                if e.event_type_value == "STEP_FAILURE"]
    memory.stop()
    print(json.dumps({"success": result.success, "seconds": time.perf_counter() - started, "imports": imported,
                      "peak_rss_mb": peak_rss_mb(), "peak_tree_rss_mb": memory.peak_mb,
                      "peak_tree_pss_mb": memory.peak_pss_mb, "tree_peaks": tree_peaks,
                      "workers": workers, "steps": steps, "failures": failures}))


def run_size(rows: int, csv: Path, folder: Path, repo: Path = REPO, workers: int | None = None) -> dict:
    """One fresh process training the whole graph on `csv` with the code of `repo`, in its own project folder and
    Dagster instance."""
    folder.mkdir()
    (folder / "dagster_home").mkdir()
    env = {**os.environ, "YTS_DATA_PATH": str(csv), "YTS_PROJECT_ROOT": str(folder),
           "DAGSTER_HOME": str(folder / "dagster_home"), "PYTHONPATH": str(repo)}
    started = time.perf_counter()
    command = [sys.executable, __file__, "--child", str(csv)]
    if workers is not None:
        command += ["--workers", str(workers)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800, cwd=folder)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-3000:])
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    report["wall"] = wall
    report["rows"] = rows
    return report


def median_steps(reports: list[dict]) -> list[tuple[str, float, float]]:
    """(step, median seconds, median peak RSS so far) of every step, slowest first."""
    seconds: dict[str, list[float]] = {}
    rss: dict[str, list[float]] = {}
    for report in reports:
        for step, took, peak in report["steps"]:
            seconds.setdefault(step, []).append(took)
            rss.setdefault(step, []).append(peak)
    return sorted(((step, statistics.median(seconds[step]), statistics.median(rss[step])) for step in seconds),
                  key=lambda s: -s[1])


def print_run(report: dict, top: int, label: str = "") -> None:
    in_steps = sum(seconds for _, seconds, _ in report["steps"])
    print(f"\n{label}{report['rows']:,} rows: {'ok' if report['success'] else 'FAILED'} in {report['wall']:.1f} s wall "
          f"(imports {report['imports']:.1f} s, steps {in_steps:.1f} s, the rest is Dagster between steps), "
          f"peak RSS {report['peak_rss_mb']:,.0f} MB; with the worker pool's: RSS "
          f"{report['peak_tree_rss_mb']:,.0f} MB, PSS {report.get('peak_tree_pss_mb', 0):,.0f} MB", flush=True)
    for failure in report["failures"]:
        print(f"  FAILED {failure}")
    for step, seconds, rss in sorted(report["steps"], key=lambda s: -s[1])[:top]:
        print(f"  {step:<40}{seconds:>8.2f} s{rss:>10,.0f} MB peak so far")


def summary_table(by_rows: dict[int, list[dict]], slowest: int = 5) -> str:
    """Markdown: per size, the median wall and peak RSS over its runs and its `slowest` steps (median seconds)."""
    lines = [f"| rows | runs | wall (median) | peak RSS, run process (median) | peak PSS, with workers (median) "
             f"| {slowest} slowest steps (median s) |", "| ---: | ---: | ---: | ---: | ---: | --- |"]
    for rows, reports in by_rows.items():
        wall = statistics.median(r["wall"] for r in reports)
        rss = statistics.median(r["peak_rss_mb"] for r in reports)
        tree = statistics.median(r.get("peak_tree_pss_mb", r["peak_rss_mb"]) for r in reports)
        steps = ", ".join(f"{step} {seconds:.1f}" for step, seconds, _ in median_steps(reports)[:slowest])
        lines.append(f"| {rows:,} | {len(reports)} | {wall:.1f} s | {rss:,.0f} MB | {tree:,.0f} MB | {steps} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per size, interleaved across sizes (medians are reported)")
    parser.add_argument("--top", type=int, default=12, help="steps listed per run, slowest first (0: every step)")
    parser.add_argument("--json", type=Path, help="also write every run's report (per-step figures) here")
    parser.add_argument("--baseline-repo", type=Path, help=(
        "another checkout of the project (the code before a change, say): every run is paired with one of that "
        "code on the same upsample, the pair's order alternating, and each code gets its table"))
    parser.add_argument("--workers", type=int, help="worker processes, as YTS_WORKERS for yts-run (default: its "
                        "default, one per core; 0: everything in the run process)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.workers)
        return 0
    repos = {"this code": REPO, **({"baseline": args.baseline_repo.resolve()} if args.baseline_repo else {})}
    results: dict[str, dict[int, list[dict]]] = {label: {rows: [] for rows in args.rows} for label in repos}
    with tempfile.TemporaryDirectory(prefix="yts-scale-") as scratch:
        csvs = {}
        for rows in args.rows:  # one upsample per size, shared by its runs
            (Path(scratch) / f"rows-{rows}").mkdir()
            csvs[rows] = Path(scratch) / f"rows-{rows}" / "upsample.csv"
            upsample(args.data, rows, csvs[rows])
        for attempt in range(args.repeat):
            for rows in args.rows:
                for label in (list(repos) if attempt % 2 == 0 else list(reversed(repos))):
                    folder = Path(scratch) / f"rows-{rows}" / f"{label.replace(' ', '-')}-{attempt}"
                    report = run_size(rows, csvs[rows], folder, repos[label], args.workers)
                    results[label][rows].append(report)
                    print_run(report, args.top or len(report["steps"]), f"[{label}] " if len(repos) > 1 else "")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    for label, by_rows in results.items():
        print(f"\n{label} ({repos[label]}):" if len(repos) > 1 else "")
        print(summary_table(by_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
