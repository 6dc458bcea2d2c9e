"""Dagster's own share of the main job: the training job's shape, run by Dagster, with steps that do nothing.

    .venv/bin/python benchmarks/dagster_floor.py --write-shape shape.json   # from yts's definitions
    DAGSTER_HOME=... .venv/bin/python benchmarks/dagster_floor.py shape.json  # what --dagster-floor times

A fresh process imports Dagster, opens the instance `yts-run` would (DAGSTER_HOME with `deploy/dagster.local.yaml`
copied in when it has no dagster.yaml: the same kept-open SQLite event log) and runs, in process, a job with the
training job's assets, dependencies, asset checks (grouped by asset, as yts groups them) and failure hook. Every
asset returns at once and every check passes, with no metadata: it is a lower bound on what Dagster costs
`yts-run` (no pandas, scikit-learn or files; no pictures in the event log). `yts-run`'s time minus this is the
part yts's own code could cut.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def write_shape(path: Path) -> None:
    """The training job's assets, their parents inside the job and their checks, as JSON."""
    sys.path.insert(0, str(REPO))
    from yts_assets.definitions import TRAINING_JOB, build_definitions

    definitions = build_definitions()
    job = definitions.resolve_job_def(TRAINING_JOB)
    graph = definitions.resolve_asset_graph()
    selected = job.asset_layer.executable_asset_keys
    shape = {key.to_user_string(): {"parents": sorted(p.to_user_string() for p in graph.get(key).parent_keys
                                                      if p in selected),
                                    "checks": sorted(c.name for c in graph.get(key).check_keys)}
             for key in sorted(selected, key=lambda k: k.to_user_string())}
    path.write_text(json.dumps(shape, indent=1))


def run_floor(shape_path: Path) -> bool:
    from dagster import (
        AssetCheckResult,
        AssetCheckSpec,
        DagsterInstance,
        Definitions,
        HookContext,
        asset,
        define_asset_job,
        failure_hook,
        multi_asset_check,
    )

    shape = json.loads(shape_path.read_text())

    def make_asset(name: str, parents: list[str]):
        @asset(name=name, deps=parents)
        def nothing() -> None:
            return None

        return nothing

    def make_checks(name: str, checks: list[str]):
        @multi_asset_check(name=f"{name}_checks", specs=[AssetCheckSpec(check, asset=name) for check in checks])
        def passing():
            for check in checks:
                yield AssetCheckResult(asset_key=name, check_name=check, passed=True)

        return passing

    @failure_hook
    def on_failure(context: HookContext) -> None:
        return None

    assets = [make_asset(name, node["parents"]) for name, node in shape.items()]
    checks = [make_checks(name, node["checks"]) for name, node in shape.items() if node["checks"]]
    job = define_asset_job("floor_job", hooks={on_failure})
    definitions = Definitions(assets=assets, asset_checks=checks, jobs=[job])
    with DagsterInstance.get() as instance:  # DAGSTER_HOME's
        result = definitions.resolve_job_def("floor_job").execute_in_process(
            instance=instance, run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})  # as yts-run
    return result.success


def prepare_home(home: Path) -> None:
    """DAGSTER_HOME as yts-run makes it: deploy/dagster.local.yaml copied in when it has none."""
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(REPO / "deploy" / "dagster.local.yaml", home / "dagster.yaml")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shape", type=Path, nargs="?", help="the shape file to run (written by --write-shape)")
    parser.add_argument("--write-shape", type=Path, help="write the training job's shape here and exit")
    args = parser.parse_args()
    if args.write_shape:
        write_shape(args.write_shape)
        return 0
    if args.shape is None:
        parser.error("give a shape file, or --write-shape PATH")
    started = time.perf_counter()
    ok = run_floor(args.shape)
    print(f"floor job: {'success' if ok else 'FAILURE'} in {time.perf_counter() - started:.2f} s")
    gc.freeze()  # as yts-run: nothing is collected at exit
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
