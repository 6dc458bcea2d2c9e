"""Service settings, read from the environment (yts_assets.core.config) once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yts_assets.core import config
from yts_assets.core.paths import ProjectPaths


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
        return cls(
            paths=ProjectPaths.from_env(),
            admin_token=config.ADMIN_TOKEN.get(),
            registry_poll_seconds=config.REGISTRY_POLL_SECONDS.get(),
            capture_enabled=config.CAPTURE_ENABLED.get(),
            capture_dir=config.CAPTURE_DIR.get(),
            capture_buffer_records=config.CAPTURE_BUFFER_RECORDS.get(),
            capture_rotate_records=config.CAPTURE_ROTATE_RECORDS.get(),
            capture_rotate_seconds=config.CAPTURE_ROTATE_SECONDS.get(),
            capture_flush_seconds=config.CAPTURE_FLUSH_SECONDS.get(),
        )
