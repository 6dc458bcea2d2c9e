"""yts-run: materialize the whole graph in-process and print a short summary."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..core import config
from ..core.files import read_json
from ..core.paths import ProjectPaths
from ..ml.features import TARGETS

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
        message = error.message.strip()
        if error.cls_name and message.split(": ", 1)[0].endswith(error.cls_name):
            message = message.split(": ", 1)[1]
        reasons.append((where, message))
    return reasons


def format_summary(result, paths: ProjectPaths, elapsed: float, dagster_home: Path) -> str:  # noqa: ANN001
    lines = [f"yts: run {result.run_id} {'SUCCEEDED' if result.success else 'FAILED'} in {elapsed:.1f}s"]
    if paths.raw_source.is_file():
        source = read_json(paths.raw_source)
        lines.append(f"data source: {source['kind'].upper()}  {source['path']}  "
                     f"(sha256 {source['sha256'][:12]}, {source['rows']} rows x {source['columns']} columns)")
    evaluations = result.get_asset_check_evaluations()
    lines.append(f"checks ({len(evaluations)}):")
    for evaluation in evaluations:
        status = "PASS" if evaluation.passed else ("FAIL" if evaluation.severity.value == "ERROR" else "WARN")
        label = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        lines.append(f"  {status:<4} {label}" + ("" if evaluation.passed else f"  - {evaluation.description}"))
    for where, reason in failure_reasons(result):
        lines.append(f"  FAILED {where}: {reason}")
    manifest = read_json(paths.training_manifest) if paths.training_manifest.is_file() else None
    if manifest and manifest["run_id"] == result.run_id:
        metrics = read_json(paths.training_metrics)["supervised"]
        lines.append(f"hyperparameters: {manifest['hyperparameters']['source']}; "
                     f"MLflow run: {manifest['mlflow_run_id'] or 'tracking off (YTS_ENABLE_MLFLOW=true turns it on)'}")
        lines.append("CV metrics (K-fold, log1p space; model vs constant-median baseline on the same folds):")
        lines.append(f"  {'target':<12}{'rows':>6}{'R2 model':>10}{'R2 base':>10}{'MAE model':>11}{'MAE base':>10}{'R2 raw':>9}")
        for target in TARGETS:
            m = metrics[target]
            lines.append(f"  {target:<12}{m['rows']:>6}{m['model']['log_r2']:>10.3f}{m['baseline']['log_r2']:>10.3f}"
                         f"{m['model']['log_mae']:>11.3f}{m['baseline']['log_mae']:>10.3f}{m['model']['r2']:>9.3f}")
    registry = read_json(paths.model_registry) if paths.model_registry.is_file() else {"active_run_id": None, "runs": []}
    active = registry["active_run_id"]
    record = next((r for r in registry["runs"] if r["run_id"] == result.run_id), None)
    if active == result.run_id:
        note = "this run"
    elif record is not None:
        note = f"unchanged: this run is {record['status']}" + (f" ({record['reason']})" if record["status"] == "rejected" else "")
    else:
        note = "unchanged by this run"
    lines.append(f"active run id: {active or 'none'} ({note})")
    lines.append(f"artifacts: {paths.artifact_dir}")
    lines.append(f"UI: DAGSTER_HOME={dagster_home} .venv/bin/dg dev  ->  http://127.0.0.1:3000")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="yts-run", description=__doc__)
    parser.add_argument("--data-source", choices=["auto", "real", "demo"], default="auto")
    parser.add_argument("--verbose", action="store_true", help="print Dagster's event log too")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    paths = ProjectPaths.from_env()
    dagster_home = ensure_dagster_home(paths)

    from dagster import DagsterInstance

    from ..definitions import TRAINING_JOB, build_definitions

    run_config = {
        "resources": {"settings": {"config": {"data_source": args.data_source}}},
        "loggers": {"console": {"config": {"log_level": "DEBUG" if args.verbose else "WARNING"}}},
    }
    with DagsterInstance.get() as instance:
        result = build_definitions().resolve_job_def(TRAINING_JOB).execute_in_process(
            instance=instance, run_config=run_config, raise_on_error=False)
    print(format_summary(result, paths, time.perf_counter() - started, dagster_home))
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
