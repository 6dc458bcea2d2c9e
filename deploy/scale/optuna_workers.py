"""Several processes adding trials to the same `hpo_study` studies at once, through one Optuna storage.

    .venv/bin/python deploy/scale/optuna_workers.py --workers 2 --trials 2
    .venv/bin/python deploy/scale/optuna_workers.py --storage 'postgresql://yts:PASSWORD@db-host:5432/optuna'

The parent prepares the processed table once, as `processed_channels` would from the same data
(YTS_DATA_PATH, data/, else the demo data), starts N worker processes on it and waits for them (each
bounded by --timeout plus a grace period). Every worker runs `yts_assets.ml.hpo.search`, the very search
`hpo_study` runs: for each target, one study per outer CV fold and one for the refit, named by target,
fold and data hash, each getting --trials new trials from every worker. Each trial records the process
that ran it as its user attr `worker` (host:pid). At the end the parent reads the studies back and prints,
per study, how many trials each worker added, how many overlapped in time, and their states; it exits
non-zero if a worker failed, a trial failed, or a study lacks a worker's trials.

Storage: --storage, else YTS_OPTUNA_STORAGE, else SQLite at artifacts/optuna/optuna.db (the default of
`hpo_study`). SQLite is opened with a busy timeout so concurrent writers wait for the lock; Optuna
recommends a database server for parallel work, and a Postgres URL works the same (and across machines).
To add a machine, run one worker there on the same processed table and storage:

    .venv/bin/python deploy/scale/optuna_workers.py --worker --processed table.csv --storage URL --trials 5

A later `hpo_study` run with the same storage resumes these studies (same data and CV: same names).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from yts_assets.core import config as env
from yts_assets.core.files import sha256_file, write_csv
from yts_assets.core.paths import ProjectPaths
from yts_assets.ml import hpo
from yts_assets.ml.dataset import DEFAULT_REFERENCE_YEAR, process, read_processed
from yts_assets.ml.source import read_source
from yts_assets.ml.training import TrainingConfig

GRACE_SECONDS = 120.0  # past --timeout: imports, the last trial of each study, writing to the storage


def training_config(args: argparse.Namespace) -> TrainingConfig:
    return TrainingConfig(cv_folds=args.cv_folds, random_seed=args.seed)


def run_worker(args: argparse.Namespace) -> int:
    config = training_config(args)
    tag = hpo.data_tag(sha256_file(args.processed), config)
    name = hpo.worker_name()
    print(f"[{name}] worker on {hpo.redacted(args.storage)}, data tag {tag}", flush=True)
    sampler_seed = args.sampler_seed if args.sampler_seed is not None else args.seed + os.getpid()
    hpo.search(read_processed(args.processed), config, n_trials=args.trials, timeout_seconds=args.timeout,
               storage_url=args.storage, data_tag=tag, log=lambda line: print(f"[{name}] {line}", flush=True),
               sampler_seed=sampler_seed)
    print(f"[{name}] done", flush=True)
    return 0


def prepare_table(data_source: str, folder: Path) -> tuple[Path, str]:
    """The processed table `processed_channels` would write from the same data: same bytes, same data hash."""
    raw, kind = read_source(ProjectPaths.from_env(), data_source)  # type: ignore[arg-type]
    target = folder / "processed.csv"
    write_csv(target, process(raw.frame, DEFAULT_REFERENCE_YEAR).frame)
    return target, f"{kind} data, {raw.path}"


def summarize(storage_url: str, tag: str, worker_pids: list[int]) -> dict[str, Any]:
    """Per study of this data tag: trials per worker, their states, and how many overlapped another worker's."""
    storage = hpo.open_storage(storage_url)
    studies = {}
    for study in storage.get_all_studies():
        if not study.study_name.endswith(f"-{tag}"):
            continue
        trials = storage.get_all_trials(study._study_id, deepcopy=False)
        by_worker = Counter(str(t.user_attrs.get("worker", "?")) for t in trials)
        intervals = [(t.user_attrs.get("worker"), t.datetime_start, t.datetime_complete) for t in trials
                     if t.datetime_start and t.datetime_complete]
        overlapping = sum(1 for w, start, end in intervals
                          if any(o != w and s < end and start < e for o, s, e in intervals))
        studies[study.study_name] = {
            "trials": len(trials), "by_worker": dict(by_worker), "overlapping": overlapping,
            "states": dict(Counter(t.state.name for t in trials)),
            "pids": sorted({int(str(w).rsplit(":", 1)[1]) for w in by_worker if ":" in str(w)}),
        }
    failed = sum(s["states"].get("FAIL", 0) for s in studies.values())
    missing = [name for name, s in studies.items() if not set(worker_pids) <= set(s["pids"])]
    return {"storage": hpo.redacted(storage_url), "data_tag": tag, "worker_pids": worker_pids, "studies": studies,
            "failed_trials": failed, "studies_missing_a_worker": missing,
            "ok": bool(studies) and not failed and not missing}


def run_parent(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="yts-optuna-workers-") as scratch:
        if args.processed:
            table, described = Path(args.processed), str(args.processed)
        else:
            table, described = prepare_table(args.data_source, Path(scratch))
        tag = hpo.data_tag(sha256_file(table), training_config(args))
        print(f"{args.workers} workers, each adding {args.trials} trial(s) to every study, storage "
              f"{hpo.redacted(args.storage)}, {described}, data tag {tag}", flush=True)
        hpo.open_storage(args.storage)  # creates a new storage's tables before the workers race to
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--processed", str(table),
                   "--storage", args.storage, "--trials", str(args.trials), "--timeout", str(args.timeout),
                   "--cv-folds", str(args.cv_folds), "--seed", str(args.seed)]
        started = time.monotonic()
        # each its own sampler seed: with one seed, every worker would propose the same first parameters
        workers = [subprocess.Popen([*command, "--sampler-seed", str(args.seed + index)])
                   for index in range(args.workers)]
        deadline = started + args.timeout + GRACE_SECONDS
        codes = []
        try:
            for worker in workers:
                codes.append(worker.wait(timeout=max(deadline - time.monotonic(), 1.0)))
        except subprocess.TimeoutExpired:
            print(f"workers still running after {args.timeout + GRACE_SECONDS:.0f} s: stopping them", file=sys.stderr)
            codes.append(-1)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.terminate()
                    try:
                        worker.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        worker.kill()
                        worker.wait()
        elapsed = time.monotonic() - started
        summary = summarize(args.storage, tag, [w.pid for w in workers])
    summary.update(worker_exit_codes=codes, seconds=round(elapsed, 2))
    summary["ok"] = summary["ok"] and all(code == 0 for code in codes)
    print(f"\n{len(summary['studies'])} studies in {elapsed:.1f} s; worker pids {summary['worker_pids']}, "
          f"exit codes {codes}")
    print(f"{'study':<44}{'trials':>7}{'overlap':>8}  per worker (host:pid)  states")
    for name, study in sorted(summary["studies"].items()):
        per_worker = ", ".join(f"{w}={n}" for w, n in sorted(study["by_worker"].items()))
        print(f"{name:<44}{study['trials']:>7}{study['overlapping']:>8}  {per_worker}  {study['states']}")
    print(f"failed trials: {summary['failed_trials']}; studies without every worker's trials: "
          f"{len(summary['studies_missing_a_worker'])}; {'OK' if summary['ok'] else 'FAILED'}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return 0 if summary["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", help="SQLAlchemy URL; default YTS_OPTUNA_STORAGE, else artifacts/optuna/optuna.db")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=2, help="new trials per study, per worker")
    parser.add_argument("--timeout", type=float, default=300.0, help="each worker's budget for all its studies (s)")
    parser.add_argument("--cv-folds", type=int, default=TrainingConfig().cv_folds)
    parser.add_argument("--seed", type=int, default=TrainingConfig().random_seed)
    parser.add_argument("--sampler-seed", type=int, help="a worker's TPE seed; default --seed plus its pid")
    parser.add_argument("--data-source", choices=("auto", "real", "demo"), default="auto")
    parser.add_argument("--processed", type=Path, help="a processed_channels CSV to search on, instead of preparing one")
    parser.add_argument("--json", help="also write the summary here")
    parser.add_argument("--worker", action="store_true", help="run one worker in this process (needs --processed)")
    args = parser.parse_args(argv)
    args.storage = (args.storage or env.OPTUNA_STORAGE.get()
                    or hpo.default_storage_url(ProjectPaths.from_env().optuna_storage))
    if args.worker:
        if not args.processed:
            parser.error("--worker needs --processed")
        return run_worker(args)
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
