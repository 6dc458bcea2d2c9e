"""The yts code location: `dagster dev -w workspace.yaml` or `dg dev` loads `defs`."""

import os

from dagster import Definitions, in_process_executor, multiprocess_executor

from .checks import data as data_checks
from .checks import mlops as mlops_checks
from .checks import models as model_checks
from .checks import monitoring as monitoring_checks
from .jobs import MONITORING_ASSETS, TRAINING_ASSETS, drift_job, training_job
from .assets.models import hpo_study
from .resources import YtsSettings
from .schedules import retraining_schedule
from .sensors import automation_sensor, incoming_drift_sensor
from .tracking import ExperimentTracking

TRAINING_CHECKS = [*data_checks.DATA_CHECKS, *model_checks.MODEL_CHECKS, mlops_checks.artifacts_match_manifest]
ALL_CHECKS = [*TRAINING_CHECKS, monitoring_checks.payload_drift]
MAIN_JOB_NAME = training_job.name
# In-process by default: on 2 cores, a process per step costs more than the steps (DESIGN.md).
EXECUTORS = {"in_process": in_process_executor, "multiprocess": multiprocess_executor}
EXECUTOR = os.environ.get("YTS_EXECUTOR", "in_process")
if EXECUTOR not in EXECUTORS:
    raise ValueError(f"YTS_EXECUTOR={EXECUTOR!r} is not one of {', '.join(EXECUTORS)}")

defs = Definitions(
    assets=[*TRAINING_ASSETS, hpo_study, *MONITORING_ASSETS],
    asset_checks=ALL_CHECKS,
    jobs=[training_job, drift_job],
    sensors=[incoming_drift_sensor, automation_sensor],
    schedules=[retraining_schedule],
    resources={"settings": YtsSettings(), "tracking": ExperimentTracking()},
    executor=EXECUTORS[EXECUTOR],
)
