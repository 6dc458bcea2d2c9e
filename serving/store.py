"""Loads the registry's active run, verified file by file, and swaps it in when the registry changes."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

from yts_assets.core.paths import ProjectPaths
from yts_assets.core.registry import RegistryError, load_registry, read_verified, run_dir, verified_manifest
from yts_assets.ml.models import PROBE_ROW, ClusteringModel, SupervisedModel

log = logging.getLogger("yts.serving")
RETRY_SECONDS = 10.0
MAP_ARTIFACTS = ("influence_map", "earnings_choropleth", "category_dominance_map")


@dataclass(frozen=True)
class RunInsights:
    """The analytics tables (`channel_insights.json`) and the three map pages of a run, from its verified bytes."""

    tables: Mapping[str, Any]
    maps: Mapping[str, str]  # artifact name -> HTML
    etags: Mapping[str, str]  # artifact name -> the sha256 its manifest records


@dataclass(frozen=True)
class ModelCard:
    """A run's model card (markdown), from its verified bytes, and the sha256 its manifest records."""

    text: str
    sha256: str


@dataclass(frozen=True)
class LoadedRun:
    """Everything one published run serves with. Immutable: a request keeps the run it started with."""

    run_id: str
    manifest: dict[str, Any]
    supervised: SupervisedModel
    clustering: ClusteringModel
    baseline: dict[str, Any]
    loaded_at: str
    insights: RunInsights | None = None  # None: the run was published before analytics and maps were assets
    model_card: ModelCard | None = None  # None: the run was published before model cards


@dataclass
class StoreStatus:
    active_run_id: str | None = None
    problems: list[str] = field(default_factory=list)


def load_published_run(paths: ProjectPaths, run_id: str) -> LoadedRun:
    """Verify the run from the registry down, load its models from the very bytes that were checked
    (skops: nothing is unpickled), and refuse a run whose model cannot predict a probe row."""
    manifest, problems = verified_manifest(paths, run_id)
    if manifest is None:
        raise RegistryError(f"run {run_id} failed verification: " + "; ".join(problems))
    folder = run_dir(paths, run_id)

    def checked(name: str) -> bytes:
        return read_verified(folder, manifest["artifacts"][name])

    supervised = SupervisedModel.loads(checked("supervised_model"), f"run {run_id} supervised_model")
    usable, probe = supervised.probe()
    if not usable:
        raise RegistryError(f"run {run_id} loads but cannot predict a probe row {PROBE_ROW}: {probe}")
    clustering = ClusteringModel.loads(checked("clustering_model"), f"run {run_id} clustering_model")
    try:
        clustering.assign([[PROBE_ROW["uploads"], probe["subscribers"], probe["earnings"], probe["growth"]]])
    except Exception as exc:  # noqa: BLE001 - a clustering model that cannot assign is not servable
        raise RegistryError(f"run {run_id}'s clustering model cannot assign a probe row: {exc}") from exc
    return LoadedRun(
        run_id=run_id,
        manifest=manifest,
        supervised=supervised,
        clustering=clustering,
        baseline=json.loads(checked("training_baseline")),
        loaded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        insights=load_insights(folder, manifest),
        model_card=load_model_card(folder, manifest),
    )


def load_model_card(folder: Path, manifest: dict[str, Any]) -> ModelCard | None:
    """The run's model card, read once from the bytes its manifest hashes; None for a run published without one."""
    entry = manifest["artifacts"].get("model_card")
    if entry is None:
        return None
    return ModelCard(text=read_verified(folder, entry).decode("utf-8"), sha256=entry["sha256"])


def load_insights(folder: Path, manifest: dict[str, Any]) -> RunInsights | None:
    """The run's analytics and maps, read once from the bytes its manifest hashes; None for a run published
    without them (it still serves predictions)."""
    artifacts = manifest["artifacts"]
    names = ("channel_insights", *MAP_ARTIFACTS)
    if not any(name in artifacts for name in names):
        return None
    missing = [name for name in names if name not in artifacts]
    if missing:
        raise RegistryError(f"run {manifest['run_id']}'s manifest lists channel insights and maps without "
                            f"{', '.join(missing)}")
    tables = json.loads(read_verified(folder, artifacts["channel_insights"]))
    maps = {name: read_verified(folder, artifacts[name]).decode("utf-8") for name in MAP_ARTIFACTS}
    return RunInsights(tables=MappingProxyType(tables), maps=MappingProxyType(maps),
                       etags=MappingProxyType({name: artifacts[name]["sha256"] for name in names}))


class ModelStore:
    """Holds the loaded run; `refresh()` follows the registry, keeping the old run if the new one fails."""

    def __init__(self, paths: ProjectPaths, listener: Callable[["ModelStore"], None] | None = None) -> None:
        self.paths = paths
        self.listener = listener  # told after every refresh (the metrics publish readiness and the served run)
        self.current: LoadedRun | None = None
        self.status = StoreStatus(problems=["not loaded yet"])
        self.swaps = 0  # times `current` changed
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._last_attempt = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        current = self.current
        return current is not None and not self.status.problems and current.run_id == self.status.active_run_id

    def refresh(self) -> None:
        with self._lock:
            try:
                self._refresh()
            finally:
                if self.listener is not None:
                    self.listener(self)

    def _refresh(self) -> None:
        try:
            registry = load_registry(self.paths)
        except RegistryError as exc:
            self.status = StoreStatus(problems=[str(exc)])
            return
        active = registry["active_run_id"]
        if active is None:
            self.status = StoreStatus(problems=[f"no active run in {self.paths.model_registry}: run the main job (yts-run)"])
            return
        if self.current is not None and self.current.run_id == active:
            self.status = StoreStatus(active_run_id=active)
            return
        try:
            loaded = load_published_run(self.paths, active)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the previous run serving
            kept = f"; still serving {self.current.run_id}" if self.current else ""
            log.error("cannot load run %s: %s%s", active, exc, kept)
            self.status = StoreStatus(active_run_id=active, problems=[f"run {active}: {exc}{kept}"])
            return
        self.current = loaded
        self.swaps += 1
        self.status = StoreStatus(active_run_id=active)
        log.info("serving run %s", active)

    def registry_signature(self) -> tuple[int, int] | None:
        try:
            stat = self.paths.model_registry.stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def poll_once(self) -> None:
        """Refresh when the registry file changed; retry a failed load every RETRY_SECONDS."""
        signature = self.registry_signature()
        now = time.monotonic()
        if signature != self._seen or (not self.ready and now - self._last_attempt >= RETRY_SECONDS):
            self._seen = signature
            self._last_attempt = now
            self.refresh()

    def start_watching(self, interval: float) -> None:
        def watch() -> None:
            while not self._stop.wait(interval):
                self.poll_once()

        self._thread = threading.Thread(target=watch, name="yts-registry-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
