"""The yts code location: defs/ loaded by Dagster, plus the resources and the executor.

`dg dev`, `dagster dev -w workspace.yaml` and `dg check defs` load `defs`. Entry points (the CLI and
the tests) call `build_definitions()`, which can swap resources for a run.
"""

from pathlib import Path

from dagster import (
    Definitions,
    ExecutorDefinition,
    definitions,
    in_process_executor,
    load_from_defs_folder,
    multiprocess_executor,
)

from .core import config
from .defs.registry.gate import BlockingChecks
from .ml import workers
from .resources import GatePolicyResource, YtsSettings
from .tracking import ExperimentTracking

# Step processes fork from a server that imported the code location and scikit-learn once (Dagster spawns a fresh
# interpreter per step otherwise); run config may still set `start_method` and the executor's other fields.
STEP_PRELOAD = ["yts_assets.definitions", *workers.PRELOAD]


def forkserver_unless_configured(run_config: dict) -> dict:
    return {"start_method": {"forkserver": {"preload_modules": STEP_PRELOAD}}, **run_config}


multiprocess = multiprocess_executor.configured(forkserver_unless_configured, name="multiprocess",
                                                config_schema=multiprocess_executor.config_schema.config_type)
# In-process by default: on 2 cores a process per step costs more than the steps (README, "Scaling out").
EXECUTORS: dict[str, ExecutorDefinition] = {"in_process": in_process_executor, "multiprocess": multiprocess}
TRAINING_JOB = "training_job"


def celery_executor() -> ExecutorDefinition:
    """dagster-celery's executor (the `scale` extra), imported only when chosen: every step becomes a Celery task
    that a `celery -A dagster_celery.app worker` runs (deploy/scale/run_on_postgres_celery.py)."""
    try:
        from dagster_celery import celery_executor as executor
    except ImportError as exc:
        raise config.ConfigError(f"{config.EXECUTOR.name}=celery needs dagster-celery: pip install -c "
                                 f"requirements.lock -e '.[scale]'") from exc

    broker = config.CELERY_BROKER.get()
    return executor.configured({"broker": broker, "backend": config.CELERY_BACKEND.get() or broker}, name="celery")


def executor_from_env() -> ExecutorDefinition:
    name = config.EXECUTOR.get()
    if name == "celery":
        return celery_executor()
    if name not in EXECUTORS:
        raise config.ConfigError(f"{config.EXECUTOR.name}={name!r} is not one of {', '.join(EXECUTORS)}, celery")
    return EXECUTORS[name]


def build_definitions(settings: YtsSettings | None = None, tracking: ExperimentTracking | None = None,
                      gate_policy: GatePolicyResource | None = None) -> Definitions:
    location = load_from_defs_folder(path_within_project=Path(__file__).parent)
    return Definitions.merge(location, Definitions(
        resources={"settings": settings or YtsSettings(), "tracking": tracking or ExperimentTracking(),
                   "gate_policy": gate_policy or GatePolicyResource(),
                   "blocking_checks": BlockingChecks.of(location)},
        executor=executor_from_env(),
    ))


@definitions
def defs() -> Definitions:
    return build_definitions()
