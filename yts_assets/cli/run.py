"""yts-run: materialize the whole graph in-process and print a short summary.

Imports here are light (no pandas, no Dagster) so that the worker pool's forkserver starts first thing."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gc
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..core import config
from ..core.paths import ProjectPaths
from ..core.processes import collect_less, process_alive, usable_cores
from ..ml import workers

if TYPE_CHECKING:
    from dagster import DagsterInstance

    from ..ml.source import SourceMode

FALLBACK_DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def ensure_dagster_home(paths: ProjectPaths) -> Path:
    """Use DAGSTER_HOME, else a persistent .dagster_home under the project, so the UI shows past runs."""
    home = config.DAGSTER_HOME.get() or paths.root / ".dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    if not instance_yaml.exists():
        template = paths.root / "deploy" / "dagster.local.yaml"
        instance_yaml.write_text(template.read_text(encoding="utf-8") if template.is_file() else FALLBACK_DAGSTER_YAML,
                          encoding="utf-8")
    config.DAGSTER_HOME.set(str(home))
    return home


LAUNCHER_TAGS = {"yts/launcher": "yts-run"}


def fail_interrupted_runs(instance: DagsterInstance) -> list[str]:
    """yts-run's own runs left STARTED by a process that no longer exists (a kill -9): mark them failed."""
    from dagster import DagsterRunStatus, RunsFilter

    marked = []
    started = instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED], tags=LAUNCHER_TAGS))
    for run in started:
        pid, host = run.tags.get("yts/pid", ""), run.tags.get("yts/host")
        if host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid)):
            instance.report_run_failed(run, message=f"yts-run process {pid} ended without finishing this run")
            marked.append(run.run_id)
    return marked


@contextlib.contextmanager
def first_use_lock(home: Path) -> Iterator[None]:
    with open(home / ".yts-instance.lock", "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def failure_reasons(result) -> list[tuple[str, str]]:  # noqa: ANN001 - an ExecuteInProcessResult
    """(where, message of the first non-Dagster error) for every failed step or resource."""
    reasons = []
    for event in result.all_events:
        if event.is_step_failure:
            error, where = event.step_failure_data.error, f"step {event.step_key}"
        elif event.is_resource_init_failure:
            error, where = event.event_specific_data.error, "resource initialization"
        else:
            continue
        while error is not None and error.cause is not None and (error.cls_name or "").startswith("Dagster"):
            error = error.cause  # past Dagster's wrappers, to the error our code raised
        if error is None:
            continue
        name, _, detail = error.message.strip().partition(": ")
        message = detail if detail and error.cls_name and name.endswith(error.cls_name) else error.message.strip()
        reasons.append((where, message or error.cls_name or "unknown error"))
    return reasons


def data_source_line(result, paths: ProjectPaths, mode: SourceMode) -> str:  # noqa: ANN001
    """The data this run read, from the record it wrote; else what it tried to read."""
    from ..core.files import read_json
    from ..ml.source import describe_source

    read_now = result is not None and result.asset_materializations_for_node("raw_youtube_stats")
    if read_now and paths.for_run(result.run_id).raw_source.is_file():
        source = read_json(paths.for_run(result.run_id).raw_source)
        return (f"data source: {source['kind'].upper()}  {source['path']}  "
                f"(sha256 {source['sha256'][:12]}, {source['rows']} rows x {source['columns']} columns)")
    return f"data source: not read; tried {describe_source(paths, mode)}"


def metrics_lines(result, paths: ProjectPaths) -> list[str]:  # noqa: ANN001
    from ..core.files import read_json
    from ..ml.features import TARGETS

    own = paths.for_run(result.run_id) if result is not None else None
    manifest = read_json(own.training_manifest) if own and own.training_manifest.is_file() else None
    if own is None or not manifest:
        return []
    report = read_json(own.training_metrics)
    by_schema = report.get("supervised_by_schema") or {"contract": report["supervised"]}
    lines = [f"hyperparameters: {manifest['hyperparameters']['source']}; "
             f"MLflow run: {manifest['mlflow_run_id'] or 'tracking off (YTS_ENABLE_MLFLOW=true turns it on)'}",
             "CV metrics (K-fold, log1p space; model vs constant-median baseline on the same folds; segment = the "
             "rows that matter, e.g. earners; MdAPE in raw units; interval = out-of-fold coverage):",
             f"  {'schema':<10}{'target':<12}{'rows':>6}{'R2 model':>10}{'R2 base':>9}{'R2 seg':>8}{'MdAPE':>8}"
             f"{'cover':>7}{'R2 raw':>8}"]
    for schema, metrics in by_schema.items():
        for target in TARGETS:
            m = metrics[target]
            segment, interval = m.get("segment"), m.get("interval")
            lines.append(f"  {schema:<10}{target:<12}{m['rows']:>6}{m['model']['log_r2']:>10.3f}"
                         f"{m['baseline']['log_r2']:>9.3f}"
                         f"{segment['model']['log_r2'] if segment else float('nan'):>8.3f}"
                         f"{segment['model']['mdape'] if segment else float('nan'):>8.1%}"
                         f"{interval['coverage'] if interval else float('nan'):>7.3f}{m['model']['r2']:>8.3f}")
    return lines


def active_run_line(result, paths: ProjectPaths) -> str:  # noqa: ANN001
    from ..core.registry import RegistryError, find_run, load_registry

    try:
        registry = load_registry(paths)
    except RegistryError as exc:
        return f"active run id: unknown ({exc})"
    active = registry["active_run_id"]
    record = find_run(registry, result.run_id) if result is not None else None
    if result is not None and active == result.run_id:
        note = "this run"
    elif record is not None:
        detail = f" ({record['reason']})" if record["status"] in {"rejected", "unchanged"} else ""
        note = f"unchanged: this run is {record['status']}{detail}"
    else:
        note = "unchanged by this run"
    line = f"active run id: {active or 'none'} ({note})"
    required = registry.get("retraining_required")
    if required:
        line += (f"\nRETRAINING REQUIRED: {required['reason']} (since {required['raised_at']}; drifted batches: "
                 f"{', '.join(required['batches'])})")
    return line


def guarded(section: Callable[[], list[str]], what: str) -> list[str]:
    """A summary section, or one line saying why it could not be shown: the summary always prints."""
    try:
        return section()
    except Exception as exc:  # noqa: BLE001 - reported in the summary instead of a traceback
        return [f"{what}: could not be read ({type(exc).__name__}: {exc})"]


def format_summary(result, paths: ProjectPaths, elapsed: float, dagster_home: Path,  # noqa: ANN001
                   mode: SourceMode = "auto", crash: BaseException | None = None,
                   repaired: list[str] | None = None, pool_size: int = 0) -> str:
    succeeded = result is not None and result.success
    run_id = result.run_id if result is not None else "(not started)"
    lines = [f"yts: run {run_id} {'SUCCEEDED' if succeeded else 'FAILED'} in {elapsed:.1f}s"]
    lines += [f"repaired: {line}" for line in repaired or []]
    lines += [f"note: {line}" for line in config.ignored_variables()]
    lines += guarded(lambda: [data_source_line(result, paths, mode)], "data source")
    evaluations = result.get_asset_check_evaluations() if result is not None else []
    lines.append(f"checks ({len(evaluations)}):")
    for evaluation in evaluations:
        status = "PASS" if evaluation.passed else ("FAIL" if evaluation.severity.value == "ERROR" else "WARN")
        label = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        lines.append(f"  {status:<4} {label}" + ("" if evaluation.passed else f"  - {evaluation.description}"))
    for where, reason in (failure_reasons(result) if result is not None else []):
        lines.append(f"  FAILED {where}: {reason}")
    if crash is not None:
        lines.append(f"  FAILED before the run finished: {type(crash).__name__}: {crash}".rstrip(": "))
    lines += guarded(lambda: metrics_lines(result, paths), "CV metrics")
    lines += guarded(lambda: [active_run_line(result, paths)], "active run id")
    lines.append(f"worker processes: {pool_size} (fits, model files, pictures)" if pool_size else
                 f"worker processes: none, everything in this one ({config.WORKERS.name}=0, or one core)")
    lines.append(f"artifacts: {paths.artifact_dir}")
    lines.append(f"UI: DAGSTER_HOME={dagster_home} .venv/bin/dg dev  ->  http://127.0.0.1:3000")
    return "\n".join(lines)


def start_workers() -> int:
    """The worker pool: YTS_WORKERS workers, else one per core on two cores or more. Returns how many (0: none)."""
    cores = usable_cores()
    size = config.WORKERS.get() if config.WORKERS.is_set() else (cores if cores > 1 else 0)
    if size:
        workers.start(size)  # idempotent
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="yts-run", description=__doc__)
    parser.add_argument("--data-source", choices=["auto", "real", "demo"], default="auto")
    parser.add_argument("--verbose", action="store_true", help="print Dagster's event log too")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    run_config = {
        "resources": {"settings": {"config": {"data_source": args.data_source}}},
        "loggers": {"console": {"config": {"log_level": "DEBUG" if args.verbose else "WARNING"}}},
    }
    result, crash, repaired, paths, dagster_home, pool_size = None, None, [], None, None, 0
    tags = {**LAUNCHER_TAGS, "yts/pid": str(os.getpid()), "yts/host": socket.gethostname()}
    thresholds = gc.get_threshold()
    try:
        collect_less()
        pool_size = start_workers()  # first thing: the forkserver imports scikit-learn while this loads Dagster
        from dagster import DagsterInstance

        paths = ProjectPaths.from_env()
        dagster_home = ensure_dagster_home(paths)
        from ..definitions import TRAINING_JOB, build_definitions

        with contextlib.ExitStack() as stack:
            with first_use_lock(dagster_home):  # concurrent first runs would race the storage migrations
                instance = stack.enter_context(DagsterInstance.get())
            repaired += [f"run {run_id} was interrupted; marked FAILURE" for run_id in fail_interrupted_runs(instance)]
            from ..core.registry import recover, registry_lock

            with registry_lock(paths):
                repaired += recover(paths)
            job = build_definitions().resolve_job_def(TRAINING_JOB)
            gc.freeze()  # the modules and definitions live until exit: the collector need not walk them again
            result = job.execute_in_process(instance=instance, run_config=run_config, raise_on_error=False, tags=tags)
    except BaseException as exc:  # noqa: BLE001 - whatever happened, the summary says it (Ctrl-C included)
        crash = exc
    finally:
        workers.stop()  # the pool lives for one run: main() is also called in-process (tests, benchmarks)
        gc.set_threshold(*thresholds)
    if paths is None:
        print(f"yts: run (not started) FAILED: {type(crash).__name__}: {crash}")
        return 1
    print(format_summary(result, paths, time.perf_counter() - started, dagster_home or paths.root / ".dagster_home",
                         args.data_source, crash, repaired, pool_size))
    gc.freeze()  # nothing is collected at exit: the process ends (about 1 s of collection saved)
    if isinstance(crash, KeyboardInterrupt):
        return 130
    return 0 if result is not None and result.success else 1


if __name__ == "__main__":
    sys.exit(main())
