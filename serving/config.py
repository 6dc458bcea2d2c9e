"""Service settings, read from the environment once at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from yts_assets.ml.settings import ProjectPaths


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ServingConfig:
    paths: ProjectPaths
    admin_token: str | None = None
    registry_poll_seconds: float = 1.0
    capture_enabled: bool = True
    capture_dir: Path | None = None
    capture_buffer_records: int = 10_000
    capture_rotate_records: int = 1_000
    capture_rotate_seconds: float = 60.0
    capture_flush_seconds: float = 1.0

    @property
    def incoming_dir(self) -> Path:
        return self.capture_dir or self.paths.incoming_dir

    @classmethod
    def from_env(cls) -> "ServingConfig":
        capture_dir = os.environ.get("YTS_CAPTURE_DIR")
        return cls(
            paths=ProjectPaths.from_env(),
            admin_token=os.environ.get("YTS_ADMIN_TOKEN") or None,
            registry_poll_seconds=float(os.environ.get("YTS_REGISTRY_POLL_SECONDS", "1.0")),
            capture_enabled=_flag("YTS_CAPTURE_ENABLED", True),
            capture_dir=Path(capture_dir) if capture_dir else None,
            capture_buffer_records=int(os.environ.get("YTS_CAPTURE_BUFFER_RECORDS", "10000")),
            capture_rotate_records=int(os.environ.get("YTS_CAPTURE_ROTATE_RECORDS", "1000")),
            capture_rotate_seconds=float(os.environ.get("YTS_CAPTURE_ROTATE_SECONDS", "60")),
            capture_flush_seconds=float(os.environ.get("YTS_CAPTURE_FLUSH_SECONDS", "1.0")),
        )
