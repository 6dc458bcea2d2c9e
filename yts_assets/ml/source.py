"""Pick the raw data source: the newest CSV dropped in the inbox (data/inbox/, YTS_DATA_INBOX_DIR), then
YTS_DATA_PATH, then data/Global YouTube Statistics.csv, then the demo. Its sha256 is the data version."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..core import config
from ..core.files import read_json, sha256_bytes, sha256_file, write_bytes, write_json
from ..core.paths import ProjectPaths
from .dataset import DatasetError, RawDataset, load_raw
from .demo import demo_csv_bytes
from .reports import raw_profile

SourceKind = Literal["real", "demo"]
SourceMode = Literal["auto", "real", "demo"]


@dataclass(frozen=True)
class RawSource:
    kind: SourceKind
    path: Path
    sha256: str
    encoding: str
    rows: int
    columns: int

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "path": str(self.path), "sha256": self.sha256,
                "encoding": self.encoding, "rows": self.rows, "columns": self.columns}


def newest_inbox_csv(paths: ProjectPaths) -> Path | None:
    """The newest regular `*.csv` in the inbox (never a symlink or a special file; ties: the last name)."""
    if not paths.inbox_dir.is_dir():
        return None
    found = []
    with os.scandir(paths.inbox_dir) as entries:
        for entry in entries:
            if entry.name.endswith(".csv") and not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                found.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.name, Path(entry.path)))
    return max(found)[2] if found else None


def locate_real_csv(paths: ProjectPaths, mode: SourceMode = "auto") -> Path | None:
    """The real CSV to read, or None for the demo. An explicit path that is missing is an error."""
    dropped = newest_inbox_csv(paths) if mode != "demo" else None
    if dropped is not None:
        return dropped.resolve()
    explicit = config.DATA_PATH.get()
    name = config.DATA_PATH.name
    tried: list[Path] = []
    if explicit is not None and mode != "demo":
        if explicit.is_file():
            return explicit.resolve()
        raise DatasetError(
            f"{name} points to {explicit}, which does not exist or is not a file. "
            f"Fix or unset {name} (unset, yts looks at {paths.default_real_csv}, then uses demo data)."
        )
    if mode == "demo":
        return None
    tried.append(paths.default_real_csv)
    if paths.default_real_csv.is_file():
        return paths.default_real_csv
    if mode == "real":
        raise DatasetError(
            "The real dataset was requested but not found. Tried: "
            + ", ".join(str(p) for p in tried)
            + f". Set {name} to the CSV, or put it at data/Global YouTube Statistics.csv under the "
            f"project root ({config.PROJECT_ROOT.name}, currently {paths.root})."
        )
    return None


def describe_source(paths: ProjectPaths, mode: SourceMode = "auto") -> str:
    """In words, what a run in this mode reads, without reading it (for messages about failed runs)."""
    dropped = newest_inbox_csv(paths) if mode != "demo" else None
    if dropped is not None:
        return f"{dropped} (the newest CSV in {paths.inbox_dir})"
    explicit = config.DATA_PATH.get()
    if explicit is not None and mode != "demo":
        return f"{explicit} ({config.DATA_PATH.name})"
    if mode == "demo":
        return "generated demo data"
    if paths.default_real_csv.is_file():
        return str(paths.default_real_csv)
    return f"{paths.default_real_csv} (missing)" if mode == "real" else "generated demo data (no real CSV found)"


def data_version(paths: ProjectPaths, mode: SourceMode = "auto") -> tuple[str, str]:
    """(sha256, what it is) of the bytes a run would read now, hashed in chunks; the demo's are generated."""
    real = locate_real_csv(paths, mode)
    if real is not None:
        return sha256_file(real), str(real)
    return sha256_bytes(demo_csv_bytes()), "generated demo data"


def read_source(paths: ProjectPaths, mode: SourceMode = "auto") -> tuple[RawDataset, SourceKind]:
    real = locate_real_csv(paths, mode)
    if real is not None:
        return load_raw(real), "real"
    return load_raw(paths.demo_csv, demo_csv_bytes()), "demo"


def record_source(paths: ProjectPaths, raw: RawDataset, kind: SourceKind) -> RawSource:
    """Write the demo file if needed, then the pointer that downstream assets read."""
    if kind == "demo":
        write_bytes(paths.demo_csv, demo_csv_bytes())
    source = RawSource(kind=kind, path=raw.path, sha256=raw.sha256, encoding=raw.encoding,
                       rows=len(raw.frame), columns=raw.frame.shape[1])
    write_json(paths.raw_source, source.as_dict())
    return source


def raw_profile_path(paths: ProjectPaths) -> Path:
    return paths.raw_source.with_name("raw_profile.json")


def record_raw_profile(paths: ProjectPaths, raw: RawDataset) -> dict[str, object]:
    """What the raw checks and the quality report need of the raw frame (ml/reports.py: raw_profile), recorded by
    raw_youtube_stats beside raw_source.json so that they need not read and parse the CSV again."""
    profile = {"sha256": raw.sha256, **raw_profile(raw.frame)}
    write_json(raw_profile_path(paths), profile)
    return profile


def recorded_raw_profile(paths: ProjectPaths) -> dict[str, object]:
    """The raw profile raw_youtube_stats recorded for the data it recorded; computed from a verified re-read of that
    data when there is none (raw_youtube_stats materialized by an earlier version) or it describes other bytes."""
    source = recorded_source(paths)
    target = raw_profile_path(paths)
    if target.is_file():
        profile = read_json(target)
        if profile.get("sha256") == source.sha256:
            return profile
    raw, _ = load_recorded_source(paths)
    return {"sha256": raw.sha256, **raw_profile(raw.frame)}


def recorded_source(paths: ProjectPaths) -> RawSource:
    """What raw_youtube_stats recorded, without reading the data."""
    if not paths.raw_source.is_file():
        raise DatasetError(f"{paths.raw_source} is missing: materialize raw_youtube_stats first.")
    record = read_json(paths.raw_source)
    return RawSource(kind=record["kind"], path=Path(record["path"]), sha256=record["sha256"],
                     encoding=record["encoding"], rows=record["rows"], columns=record["columns"])


def load_recorded_source(paths: ProjectPaths) -> tuple[RawDataset, RawSource]:
    """Re-read the file raw_youtube_stats recorded, and refuse it if its bytes changed since."""
    source = recorded_source(paths)
    data = source.path.read_bytes()
    sha256 = sha256_bytes(data)  # checked before parsing: the bytes parsed are the bytes hashed
    if sha256 != source.sha256:
        raise DatasetError(
            f"{source.path} changed after raw_youtube_stats read it (sha256 {sha256[:12]} != "
            f"{source.sha256[:12]}). Rematerialize raw_youtube_stats."
        )
    return load_raw(source.path, data, sha256), source
