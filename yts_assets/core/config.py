"""Every environment variable yts reads, declared once: name, type, default and meaning.

Values are read when used (`SETTING.get()`), never at import, and every boolean goes through
`parse_bool`. The README's variable table is generated from `VARIABLES` and a test keeps the two equal.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class ConfigError(ValueError):
    """An environment variable holds a value yts cannot use; the message names it."""


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"expected one of {', '.join(sorted(TRUE_WORDS | FALSE_WORDS))}")


def parse_count(text: str) -> int:
    count = int(text)
    if count < 0:
        raise ValueError("expected 0 or more")
    return count


def parse_path(text: str) -> Path:
    return Path(text).expanduser()


def parse_tags(text: str) -> dict[str, str]:
    """`key=value,key=value`; blank items are skipped."""
    tags = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected key=value items separated by commas, got {item!r}")
        tags[key.strip()] = value.strip()
    return tags


@dataclass(frozen=True)
class Variable(Generic[T]):
    name: str
    parse: Callable[[str], T]
    default: T | None
    meaning: str
    default_text: str = ""
    not_applied: str = ""  # the original platform read it; why yts does not

    def raw(self) -> str | None:
        """The value as set, or None when unset or blank."""
        value = os.environ.get(self.name)
        return value if value is not None and value.strip() else None

    def get(self) -> T | None:
        raw = self.raw()
        if raw is None:
            return self.default
        try:
            return self.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{self.name}={raw!r} is not valid: {exc}") from exc

    def is_set(self) -> bool:
        return self.raw() is not None

    def set(self, value: str | None) -> None:
        """Export (or with None, remove) the variable for this process and its children."""
        if value is None:
            os.environ.pop(self.name, None)
        else:
            os.environ[self.name] = value

    @property
    def shown_default(self) -> str:
        if self.default_text:
            return self.default_text
        if isinstance(self.default, bool):
            return f"`{str(self.default).lower()}`"
        return "unset" if self.default is None else f"`{self.default}`"


# Where things live
PROJECT_ROOT = Variable("YTS_PROJECT_ROOT", parse_path, None, "project root; `data/` lives here",
                        "nearest folder with `workspace.yaml` and `yts_assets/`")
DATA_PATH = Variable("YTS_DATA_PATH", parse_path, None, "the Kaggle CSV; a missing file is an error, never a silent fallback",
                     "`data/Global YouTube Statistics.csv`, else demo data")
ARTIFACT_DIR = Variable("YTS_ARTIFACT_DIR", parse_path, None, "where every output goes", "`<root>/artifacts`")
MODEL_DIR = Variable("YTS_MODEL_DIR", parse_path, None, "where the active run's models are copied (canonical copies)",
                     "`<artifact dir>/models`")
REPORT_DIR = Variable("YTS_REPORT_DIR", parse_path, None, "where the active run's reports are copied, and drift reports go",
                      "`<artifact dir>/reports`")
MAP_DIR = Variable("YTS_MAP_DIR", parse_path, None, "where the active run's maps are copied", "`<artifact dir>/maps`")
DAGSTER_HOME = Variable("DAGSTER_HOME", parse_path, None, "Dagster instance (runs, event log); `yts-run` sets it",
                        "`<root>/.dagster_home` for `yts-run`")
# Dagster runs
EXECUTOR = Variable("YTS_EXECUTOR", str, "in_process", "`in_process`, `multiprocess` (one process per step) or "
                    "`celery` (each step a task for dagster-celery workers; needs the `scale` extra)")
WORKERS = Variable("YTS_WORKERS", parse_count, None, "worker processes `yts-run` fits models, serializes them and "
                   "draws pictures in (forked by a forkserver), started first thing; `0`: everything in the run "
                   "process", "unset: one per core on a machine with two or more, else none")
CELERY_BROKER = Variable("YTS_CELERY_BROKER", str, "redis://127.0.0.1:6379/0",
                         "Celery broker of `YTS_EXECUTOR=celery` (the workers must use the same)")
CELERY_BACKEND = Variable("YTS_CELERY_BACKEND", str, None, "Celery result backend of `YTS_EXECUTOR=celery`",
                          "`YTS_CELERY_BROKER`")
DRIFT_SENSOR_INTERVAL = Variable("YTS_DRIFT_SENSOR_INTERVAL", int, 30, "seconds between sensor evaluations")
RETRAIN_HIGH_SEVERITY_SHARE = Variable("YTS_RETRAIN_HIGH_SEVERITY_SHARE", float, None,
                                       "share of high-severity records that makes a batch a drift risk "
                                       "(default of the gate policy's `drift.max_high_severity_share`)",
                                       "the gate policy's, `0.1`")
RETRAIN_CRON = Variable("YTS_RETRAIN_CRON", str, "0 3 * * 1", "the retraining schedule's cron (UTC)")
# Backups of the registry (artifacts/mlops/)
BACKUP_DIR = Variable("YTS_BACKUP_DIR", parse_path, None, "where registry backups are written",
                      "`<root>/backups`")
BACKUP_KEEP = Variable("YTS_BACKUP_KEEP", int, 7, "registry backups kept (the oldest beyond are deleted)")
BACKUP_CRON = Variable("YTS_BACKUP_CRON", str, "30 2 * * *", "the backup schedule's cron (UTC)")
# New data
DATA_INBOX_DIR = Variable("YTS_DATA_INBOX_DIR", parse_path, None,
                          "folder where a new snapshot of the dataset (a CSV) may be dropped; the newest is trained on",
                          "`data/inbox/`")
# Alerts
ALERT_WEBHOOK_URL = Variable("YTS_ALERT_WEBHOOK_URL", str, None, "where alerts are POSTed (Slack-compatible JSON)",
                             "unset: alerts go to the outbox and the logs only")
ALERT_TIMEOUT_SECONDS = Variable("YTS_ALERT_TIMEOUT_SECONDS", float, 5.0, "timeout of one webhook call")
ALERT_ATTEMPTS = Variable("YTS_ALERT_ATTEMPTS", int, 3, "webhook attempts per alert per flush, with backoff")
DRIFT_ALERT_BATCHES = Variable("YTS_DRIFT_ALERT_BATCHES", int, 3,
                               "consecutive drift-risk batches that raise a repeated-drift alert")
INCOMING_MAX_FILE_BYTES = Variable("YTS_INCOMING_MAX_FILE_BYTES", int, 1 << 30,
                                   "largest payload batch the readers of `data/incoming/` accept (bytes)")
INCOMING_MAX_LINE_BYTES = Variable("YTS_INCOMING_MAX_LINE_BYTES", int, 1 << 16,
                                   "longest line in a payload batch (bytes); longer lines are rejected")
# Training (defaults of the `supervised_bundle` and `clustering_bundle` run config)
RANDOM_STATE = Variable("YTS_RANDOM_STATE", int, None, "random seed of CV folds, models and clustering", "`42`")
N_ESTIMATORS = Variable("YTS_N_ESTIMATORS", int, None, "boosting iterations (trees) per target: `max_iter`", "`60`")
MIN_SAMPLES_LEAF = Variable("YTS_MIN_SAMPLES_LEAF", int, None, "smallest leaf of the boosted trees", "`20`")
INTERVAL_COVERAGE = Variable("YTS_INTERVAL_COVERAGE", float, None, "nominal coverage of every prediction interval "
                             "(conformal, per target and input schema)", "`0.8`")
N_CLUSTERS = Variable("YTS_N_CLUSTERS", int, None, "KMeans archetypes", "`4`")
DBSCAN_EPS = Variable("YTS_DBSCAN_EPS", float, None, "DBSCAN neighbourhood radius (scaled log space)", "`0.75`")
DBSCAN_MIN_SAMPLES = Variable("YTS_DBSCAN_MIN_SAMPLES", int, None, "DBSCAN core-point neighbours", "`10`")
TEST_SIZE = Variable("YTS_TEST_SIZE", float, None, "hold-out share of the original's single split", "unset",
                     not_applied="no longer applies: every metric is 5-fold cross-validated, so there is no hold-out")
# Tracking and tuning
ENABLE_MLFLOW = Variable("YTS_ENABLE_MLFLOW", parse_bool, False, "track training runs in MLflow (`true`/`1`/`yes`/`on`)")
MLFLOW_TRACKING_URI = Variable("MLFLOW_TRACKING_URI", str, None, "MLflow store", "SQLite at `artifacts/mlflow/mlflow.db`")
MLFLOW_EXPERIMENT_NAME = Variable("MLFLOW_EXPERIMENT_NAME", str, "yts", "MLflow experiment of training runs")
EXPERIMENT_TRACKING_STRICT = Variable("YTS_EXPERIMENT_TRACKING_STRICT", parse_bool, False,
                                      "fail the run when tracking is on but its store cannot be used")
EXPERIMENT_TAGS = Variable("YTS_EXPERIMENT_TAGS", parse_tags, {}, "tags of every tracked run: `key=value,key=value`",
                           "none")
ENABLE_WANDB = Variable("YTS_ENABLE_WANDB", parse_bool, False,
                        "also track training runs in Weights & Biases, beside MLflow (`true`/`1`/`yes`/`on`; needs "
                        "the `wandb` extra; `WANDB_MODE`, `WANDB_API_KEY` and W&B's other variables apply)")
WANDB_PROJECT = Variable("WANDB_PROJECT", str, "yts", "W&B project of training runs")
WANDB_ENTITY = Variable("WANDB_ENTITY", str, None, "W&B entity (user or team) of training runs",
                        "the API key's default entity")
OPTUNA_TRIALS = Variable("YTS_OPTUNA_TRIALS", int, None, "new trials per Optuna study in `hpo_study`",
                         "unset: `hpo_study` searches only when run config gives `n_trials`")
OPTUNA_TIMEOUT_SECONDS = Variable("YTS_OPTUNA_TIMEOUT_SECONDS", float, 300.0, "time budget of all `hpo_study` studies")
OPTUNA_STORAGE = Variable("YTS_OPTUNA_STORAGE", str, None,
                          "Optuna storage of `hpo_study`, an SQLAlchemy URL (`postgresql://user:pass@host/db` lets "
                          "processes on several machines add trials to the same studies)",
                          "SQLite at `artifacts/optuna/optuna.db`")
# Serving
ADMIN_TOKEN = Variable("YTS_ADMIN_TOKEN", str, None, "bearer token of the admin endpoints", "unset: admin endpoints disabled")
REGISTRY_POLL_SECONDS = Variable("YTS_REGISTRY_POLL_SECONDS", float, 1.0, "how often the API checks the registry")
CAPTURE_ENABLED = Variable("YTS_CAPTURE_ENABLED", parse_bool, True, "capture accepted prediction inputs")
CAPTURE_DIR = Variable("YTS_CAPTURE_DIR", parse_path, None, "where captured batches go", "`data/incoming/`")
CAPTURE_BUFFER_RECORDS = Variable("YTS_CAPTURE_BUFFER_RECORDS", int, 10_000, "records held in memory before drops")
CAPTURE_ROTATE_RECORDS = Variable("YTS_CAPTURE_ROTATE_RECORDS", int, 1_000, "records per captured batch file")
CAPTURE_ROTATE_SECONDS = Variable("YTS_CAPTURE_ROTATE_SECONDS", float, 60.0, "seconds before a batch file is closed")
CAPTURE_FLUSH_SECONDS = Variable("YTS_CAPTURE_FLUSH_SECONDS", float, 1.0, "seconds between buffer flushes")
PROMETHEUS_MULTIPROC_DIR = Variable(
    "PROMETHEUS_MULTIPROC_DIR", parse_path, None,
    "prometheus-client's folder of per-process metric files, for an API in several worker processes; "
    "deploy/gunicorn.conf.py sets it, and so does yts in each `uvicorn --workers` worker. Set it yourself only for a "
    "folder you empty before the server starts", "unset: yts chooses (one process: metrics in memory)")
PROMETHEUS_MULTIPROC_PARENT = Variable(
    "YTS_PROMETHEUS_MULTIPROC_DIR", parse_path, None,
    "where an API in several worker processes keeps its Prometheus metric files: one `yts-prometheus-<server pid>` "
    "folder per server, emptied when the server starts; folders of servers that are gone are removed",
    "the system temp folder")

VARIABLES: tuple[Variable, ...] = tuple(value for value in dict(globals()).values() if isinstance(value, Variable))


def variables_markdown() -> str:
    """The README's table of every variable."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{v.name}` | {v.shown_default} | {v.meaning}{f' (**{v.not_applied}**)' if v.not_applied else ''} |"
              for v in VARIABLES]
    return "\n".join(lines)


def ignored_variables() -> list[str]:
    """One line for every variable that is set but that yts does not apply."""
    return [f"{v.name} is set but {v.not_applied}" for v in VARIABLES if v.not_applied and v.is_set()]
