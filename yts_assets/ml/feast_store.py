"""Opt-in Feast online store over the feature snapshot (`pip install -e '.[feast]'`).

Everything is built from `ProjectPaths`, never from the environment: the registry, the SQLite online store and
the parquet the FileSource reads all live under `<artifact dir>/feast/`. feast is imported inside the functions,
so the rest of yts works without it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.paths import ProjectPaths

PROJECT = "yts"
ENTITY = "channel"
JOIN_KEY = "channel_id"
FEATURE_VIEW = "channel_features"
FEATURES: tuple[str, ...] = ("uploads", "category", "country", "age")
TTL = timedelta(days=365 * 100)  # the snapshot's timestamp is the reference year's end, not the wall clock
INSTALL_HINT = "feast is not installed: pip install -e '.[feast]'"


class FeastUnavailable(RuntimeError):
    """feast is missing, or the online store has not been materialized yet."""


def require_feast() -> None:
    try:
        import feast  # noqa: F401
    except ImportError as error:
        raise FeastUnavailable(INSTALL_HINT) from error


@dataclass(frozen=True)
class FeastPaths:
    folder: Path

    @classmethod
    def of(cls, paths: ProjectPaths) -> "FeastPaths":
        return cls(paths.canonical.artifact_dir / "feast")

    @property
    def registry(self) -> Path:
        return self.folder / "registry.db"

    @property
    def online_store(self) -> Path:
        return self.folder / "online_store.db"

    @property
    def snapshot_parquet(self) -> Path:
        return self.folder / "feature_snapshot.parquet"


def repo_config(paths: ProjectPaths):  # noqa: ANN201 - feast.RepoConfig, imported lazily
    require_feast()
    from feast import RepoConfig
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
    from feast.repo_config import RegistryConfig

    where = FeastPaths.of(paths)
    return RepoConfig(project=PROJECT, provider="local", repo_path=where.folder,
                      registry=RegistryConfig(path=str(where.registry), cache_ttl_seconds=5),
                      online_store=SqliteOnlineStoreConfig(path=str(where.online_store)),
                      entity_key_serialization_version=3)


def definitions(paths: ProjectPaths) -> dict[str, Any]:
    """The channel Entity, the FileSource over the snapshot parquet and the channel_features FeatureView."""
    require_feast()
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    channel = Entity(name=ENTITY, join_keys=[JOIN_KEY], value_type=ValueType.STRING,
                     description="A YouTube channel, by its stable id (sha256 of the name)")
    source = FileSource(name="channel_snapshot", path=str(FeastPaths.of(paths).snapshot_parquet),
                        timestamp_field="event_timestamp")
    view = FeatureView(name=FEATURE_VIEW, entities=[channel], ttl=TTL, online=True, source=source,
                       schema=[Field(name="uploads", dtype=Int64), Field(name="category", dtype=String),
                               Field(name="country", dtype=String), Field(name="age", dtype=Float64)],
                       description="The model inputs of each channel, from the feature snapshot")
    return {"channel": channel, "channel_source": source, "channel_features": view}


def feature_store(paths: ProjectPaths):  # noqa: ANN201 - feast.FeatureStore
    require_feast()
    from feast import FeatureStore

    return FeatureStore(config=repo_config(paths))


def to_parquet_frame(snapshot: pd.DataFrame) -> pd.DataFrame:
    frame = snapshot[[JOIN_KEY, *FEATURES, "event_timestamp"]].copy()
    frame[JOIN_KEY] = frame[JOIN_KEY].astype(str)
    frame["uploads"] = pd.to_numeric(frame["uploads"], errors="coerce").round().astype("Int64")
    frame["age"] = pd.to_numeric(frame["age"], errors="coerce").astype("float64")
    for column in ("category", "country"):
        frame[column] = frame[column].astype("string")
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    return frame.drop_duplicates(JOIN_KEY, keep="last").reset_index(drop=True)


def materialize(paths: ProjectPaths, snapshot: pd.DataFrame) -> dict[str, Any]:
    """Write the parquet, apply the repo and load the online store over the snapshot's time range."""
    require_feast()
    where = FeastPaths.of(paths)
    where.folder.mkdir(parents=True, exist_ok=True)
    frame = to_parquet_frame(snapshot)
    frame.to_parquet(where.snapshot_parquet, index=False)
    store = feature_store(paths)
    store.apply(list(definitions(paths).values()))
    start = frame["event_timestamp"].min().to_pydatetime() - timedelta(seconds=1)
    end = frame["event_timestamp"].max().to_pydatetime() + timedelta(seconds=1)
    store.materialize(start_date=start, end_date=end, feature_views=[FEATURE_VIEW])
    return {"rows": len(frame), "entities": int(frame[JOIN_KEY].nunique()), "online_store": where.online_store,
            "registry": where.registry, "parquet": where.snapshot_parquet,
            "start": start.isoformat(), "end": end.isoformat()}


def is_materialized(paths: ProjectPaths) -> bool:
    where = FeastPaths.of(paths)
    return where.registry.is_file() and where.online_store.is_file()


def lookup(store, channel_id: str) -> dict[str, Any] | None:  # noqa: ANN001 - feast.FeatureStore
    """The channel's features from the online store; None when the channel is unknown (every feature null)."""
    response = store.get_online_features(features=[f"{FEATURE_VIEW}:{name}" for name in FEATURES],
                                         entity_rows=[{JOIN_KEY: channel_id}]).to_dict()
    values = {name: response[name][0] for name in FEATURES}
    return None if all(value is None for value in values.values()) else values
