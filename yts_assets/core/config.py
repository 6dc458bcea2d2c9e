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


def parse_path(text: str) -> Path:
    return Path(text).expanduser()


@dataclass(frozen=True)
class Variable(Generic[T]):
    name: str
    parse: Callable[[str], T]
    default: T | None
    meaning: str
    default_text: str = ""

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
DAGSTER_HOME = Variable("DAGSTER_HOME", parse_path, None, "Dagster instance (runs, event log); `yts-run` sets it",
                        "`<root>/.dagster_home` for `yts-run`")
# Dagster runs
EXECUTOR = Variable("YTS_EXECUTOR", str, "in_process", "`in_process` or `multiprocess` (one process per step)")
DRIFT_SENSOR_INTERVAL = Variable("YTS_DRIFT_SENSOR_INTERVAL", int, 30, "seconds between sensor evaluations")
RETRAIN_HIGH_SEVERITY_SHARE = Variable("YTS_RETRAIN_HIGH_SEVERITY_SHARE", float, None,
                                       "share of high-severity records that makes a batch a drift risk "
                                       "(default of the gate policy's `drift.max_high_severity_share`)",
                                       "the gate policy's, `0.1`")
RETRAIN_CRON = Variable("YTS_RETRAIN_CRON", str, "0 3 * * 1", "the retraining schedule's cron (UTC)")
INCOMING_MAX_FILE_BYTES = Variable("YTS_INCOMING_MAX_FILE_BYTES", int, 1 << 30,
                                   "largest payload batch the readers of `data/incoming/` accept (bytes)")
INCOMING_MAX_LINE_BYTES = Variable("YTS_INCOMING_MAX_LINE_BYTES", int, 1 << 16,
                                   "longest line in a payload batch (bytes); longer lines are rejected")
# Tracking and tuning
ENABLE_MLFLOW = Variable("YTS_ENABLE_MLFLOW", parse_bool, False, "track training runs in MLflow (`true`/`1`/`yes`/`on`)")
MLFLOW_TRACKING_URI = Variable("MLFLOW_TRACKING_URI", str, None, "MLflow store", "SQLite at `artifacts/mlflow/mlflow.db`")
OPTUNA_TRIALS = Variable("YTS_OPTUNA_TRIALS", int, 20, "new trials per Optuna study in `hpo_study`")
OPTUNA_TIMEOUT_SECONDS = Variable("YTS_OPTUNA_TIMEOUT_SECONDS", float, 300.0, "time budget of all `hpo_study` studies")
# Serving
ADMIN_TOKEN = Variable("YTS_ADMIN_TOKEN", str, None, "bearer token of the admin endpoints", "unset: admin endpoints disabled")
REGISTRY_POLL_SECONDS = Variable("YTS_REGISTRY_POLL_SECONDS", float, 1.0, "how often the API checks the registry")
CAPTURE_ENABLED = Variable("YTS_CAPTURE_ENABLED", parse_bool, True, "capture accepted prediction inputs")
CAPTURE_DIR = Variable("YTS_CAPTURE_DIR", parse_path, None, "where captured batches go", "`data/incoming/`")
CAPTURE_BUFFER_RECORDS = Variable("YTS_CAPTURE_BUFFER_RECORDS", int, 10_000, "records held in memory before drops")
CAPTURE_ROTATE_RECORDS = Variable("YTS_CAPTURE_ROTATE_RECORDS", int, 1_000, "records per captured batch file")
CAPTURE_ROTATE_SECONDS = Variable("YTS_CAPTURE_ROTATE_SECONDS", float, 60.0, "seconds before a batch file is closed")
CAPTURE_FLUSH_SECONDS = Variable("YTS_CAPTURE_FLUSH_SECONDS", float, 1.0, "seconds between buffer flushes")

VARIABLES: tuple[Variable, ...] = tuple(value for value in dict(globals()).values() if isinstance(value, Variable))


def variables_markdown() -> str:
    """The README's table of every variable."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{v.name}` | {v.shown_default} | {v.meaning} |" for v in VARIABLES]
    return "\n".join(lines)
