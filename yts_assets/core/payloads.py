"""Prediction inputs: the pydantic schema, and reading captured batches from data/incoming/.

Readers of that shared folder trust nothing in it: they take only regular `*.jsonl` files
(never symlinks, pipes or folders), refuse files and lines over a size limit, and stream line by
line, so memory stays bounded whatever the batch size. Per batch they keep counts, the sha256 of
the bytes read (hashed as they are read) and the first few accepted records as a preview; every
accepted record goes to a callback, every malformed line to `rejected/<batch>.rejected.jsonl`
with its line number and reason.

A batch belongs to one UTC day (`batch_day`): the date of the UTC stamp in its name (the capture's
`capture-<YYYYmmddTHHMMSSffffff>Z-<pid>.jsonl`), else the UTC date of the file's mtime.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import config
from .files import atomic_write

BATCH_SUFFIX = ".jsonl"
REJECTED_DIR = "rejected"
PAYLOAD_COLUMNS = ("batch", "line", "uploads", "category", "country", "age")
PREVIEW_RECORDS = 5
PARTITIONS_START = "2024-01-01"  # the first day of production_payloads' daily partitions (UTC)
DAY_STAMP = re.compile(r"(?<!\d)(\d{8})T\d{6}\d*Z")  # a UTC stamp in a batch's name, as the capture writes it
READ_CHUNK = 1 << 16
RAW_KEPT_CHARS = 2_000
SKIP_CHUNK = 1 << 16
MAX_UPLOADS = 2_000_000


class ChannelInput(BaseModel):
    """One prediction input, with the original platform's types and bounds, and yts's optional extended inputs
    (all three given: the extended models serve the row). Blank strings are refused; unknown fields are kept
    aside (`unknown_fields`) so the API can name them, never used."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="allow")

    uploads: int = Field(ge=0, le=MAX_UPLOADS, description="videos uploaded")
    category: str = Field(min_length=1, max_length=100)
    country: str = Field(min_length=1, max_length=100)
    age: int = Field(ge=0, le=100, description="years since the channel was created")
    channel_type: str | None = Field(default=None, min_length=1, max_length=100, description=(
        "optional, extended schema: the channel's type (e.g. Music, Games, Entertainment)"))
    video_views: int | None = Field(default=None, ge=0, le=10**13, description=(
        "optional, extended schema: lifetime video views"))
    video_views_last_30_days: int | None = Field(default=None, ge=0, le=10**12, description=(
        "optional, extended schema: video views in the last 30 days"))

    def inputs(self) -> dict[str, Any]:
        """The four contract inputs (what capture and drift read), without the extended or unknown fields."""
        return {"uploads": self.uploads, "category": self.category, "country": self.country, "age": self.age}

    def unknown_fields(self) -> list[str]:
        return list(self.model_extra or ())


class UnreadableBatch(Exception):
    """A batch file that is refused as a whole; the message says why. Readers report it and go on."""


@dataclass(frozen=True)
class ReadLimits:
    max_file_bytes: int
    max_line_bytes: int

    @classmethod
    def from_env(cls) -> "ReadLimits":
        return cls(max_file_bytes=config.INCOMING_MAX_FILE_BYTES.get(), max_line_bytes=config.INCOMING_MAX_LINE_BYTES.get())


@dataclass
class BatchScan:
    """What one pass over a batch found: counts, the first accepted records and rejections, the bytes' sha256.
    Its size does not grow with the batch."""

    name: str
    accepted: int = 0
    rejected: int = 0
    preview: list[dict[str, Any]] = field(default_factory=list)
    first_rejections: list[dict[str, Any]] = field(default_factory=list)
    sha256: str = ""


def validation_reason(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in error.errors())


def batch_day(path: Path) -> str:
    """The UTC day (YYYY-MM-DD) a batch belongs to: the date of the UTC stamp in its name (the capture stamps a
    batch when it opens it and closes it at most YTS_CAPTURE_ROTATE_SECONDS later), else the UTC date of the
    entry's own mtime (never a link's target). Raises OSError if the entry is gone."""
    if match := DAY_STAMP.search(path.name):
        try:
            return datetime.strptime(match.group(1), "%Y%m%d").date().isoformat()
        except ValueError:  # digits that are no date: fall back to the mtime
            pass
    return datetime.fromtimestamp(path.lstat().st_mtime, timezone.utc).date().isoformat()


def batch_files(incoming: Path, day: str | None = None) -> tuple[list[Path], dict[str, str]]:
    """Regular `*.jsonl` files directly in `incoming`, and {name: why} for entries that were skipped; with `day`,
    only the entries of that UTC day (`batch_day`; an entry whose day cannot be told is reported as skipped)."""
    files, skipped = [], {}
    if not incoming.is_dir():
        return files, skipped
    with os.scandir(incoming) as entries:
        for entry in entries:
            if not entry.name.endswith(BATCH_SUFFIX) or entry.name.startswith("."):
                continue
            if day is not None:
                try:
                    if batch_day(Path(entry.path)) != day:
                        continue
                except OSError as exc:
                    skipped[entry.name] = f"its day cannot be told ({type(exc).__name__}: {exc.strerror or exc})"
                    continue
            if entry.is_symlink():
                skipped[entry.name] = "a symlink: only regular files in the folder are read"
            elif not entry.is_file(follow_symlinks=False):
                skipped[entry.name] = "not a regular file"
            else:
                files.append(Path(entry.path))
    return sorted(files), skipped


def batch_signature(path: Path) -> str:
    """Changes when the file is replaced or grows: mtime and size (of the entry itself, never a link's target)."""
    info = path.lstat()
    return f"{info.st_mtime_ns}:{info.st_size}"


class _Sha256Reader(io.RawIOBase):
    """A raw reader that hashes every byte it hands on: the batch's sha256 comes with the one pass that reads it."""

    def __init__(self, raw: io.FileIO) -> None:
        super().__init__()
        self.raw, self.digest = raw, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.raw.readinto(buffer)
        if count:
            self.digest.update(memoryview(buffer)[:count])
        return count

    def close(self) -> None:
        self.raw.close()
        super().close()


def open_batch(path: Path, limits: ReadLimits) -> io.BufferedReader:
    """Open a regular file without following links or blocking on a pipe, within the size limit. Its `raw.digest`
    is the sha256 of what was read so far."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise UnreadableBatch(f"cannot be opened ({type(exc).__name__}: {exc.strerror or exc})") from exc
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(descriptor)
        raise UnreadableBatch("not a regular file")
    if info.st_size > limits.max_file_bytes:
        os.close(descriptor)
        raise UnreadableBatch(f"{info.st_size} bytes, over the limit of {limits.max_file_bytes} "
                              f"({config.INCOMING_MAX_FILE_BYTES.name})")
    os.set_blocking(descriptor, True)
    return io.BufferedReader(_Sha256Reader(io.FileIO(descriptor, "rb")), buffer_size=READ_CHUNK)


def batch_lines(handle: IO[bytes], limits: ReadLimits) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) with bounded memory; None for a line over the limit (the rest of it is skipped)."""
    number = 0
    while True:
        line = handle.readline(limits.max_line_bytes + 1)
        if not line:
            return
        number += 1
        if len(line) > limits.max_line_bytes and not line.endswith(b"\n"):
            while (rest := handle.readline(SKIP_CHUNK)) and not rest.endswith(b"\n"):
                pass
            yield number, None
        else:
            yield number, line


def stream_batch(path: Path, limits: ReadLimits, on_accepted: Callable[[dict[str, Any]], None],
                 on_rejected: Callable[[dict[str, Any]], None]) -> BatchScan:
    """One streaming pass: every line is validated and handed to a callback; nothing per record is kept.
    Raises UnreadableBatch."""
    scan = BatchScan(name=path.name)
    name = scan.name
    with open_batch(path, limits) as handle:
        for number, line in batch_lines(handle, limits):
            if line is None:
                reason, raw = f"line longer than {limits.max_line_bytes} bytes ({config.INCOMING_MAX_LINE_BYTES.name})", ""
            elif not line.strip():
                continue
            else:
                text = line.decode("utf-8", errors="replace").rstrip("\r\n")
                try:
                    record = ChannelInput.model_validate_json(text)
                except ValidationError as error:
                    reason, raw = validation_reason(error), text[:RAW_KEPT_CHARS]
                else:
                    accepted = {"batch": name, "line": number, **record.inputs()}
                    scan.accepted += 1
                    if len(scan.preview) < PREVIEW_RECORDS:
                        scan.preview.append(accepted)
                    on_accepted(accepted)
                    continue
            rejection = {"batch": name, "line": number, "reason": reason, "raw": raw}
            scan.rejected += 1
            if len(scan.first_rejections) < 5:
                scan.first_rejections.append(rejection)
            on_rejected(rejection)
        scan.sha256 = handle.raw.digest.hexdigest()
    return scan


def ignore(_: dict[str, Any]) -> None:
    return None


@dataclass
class CollectedPayloads:
    scans: list[BatchScan]
    skipped: dict[str, str]
    rejected_files: list[Path]
    digest: str


BatchObserver = Callable[[str], Callable[[dict[str, Any]], None]]


def collect_payloads(incoming: Path, target_csv: Path, limits: ReadLimits, day: str | None = None,
                     observe: BatchObserver | None = None) -> CollectedPayloads:
    """Stream every batch (of `day` only, if given) into one CSV of accepted records, and each batch's malformed
    lines into rejected/. `observe(batch name)` gives the callback that also sees each accepted record of that
    batch (a batch refused when opened gets one too, and no record). Memory does not grow with the records."""
    files, skipped = batch_files(incoming, day)
    scans: list[BatchScan] = []
    rejected_files: list[Path] = []
    rejected_dir = incoming / REJECTED_DIR
    if rejected_dir.is_symlink() or (rejected_dir.exists() and not rejected_dir.is_dir()):
        raise UnreadableBatch(f"{rejected_dir} is not a real folder (a symlink or a file): refusing to write through it")

    def write_all(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(PAYLOAD_COLUMNS)
            for path in files:
                extra = observe(path.name) if observe is not None else ignore
                try:
                    scan, rejected_file = _collect_one(path, limits, rejected_dir, writer, extra)
                except UnreadableBatch as exc:
                    skipped[path.name] = str(exc)
                    continue
                scans.append(scan)
                if rejected_file is not None:
                    rejected_files.append(rejected_file)

    digest = atomic_write(target_csv, write_all)
    return CollectedPayloads(scans=scans, skipped=skipped, rejected_files=rejected_files, digest=digest)


class _RejectedLines:
    """rejected/<batch>.rejected.jsonl, written atomically, and only if the batch has a malformed line: a clean
    batch costs no file (and removes the one an earlier version of it left)."""

    def __init__(self, target: Path) -> None:
        self.target, self.tmp, self.out = target, target, None

    def write(self, rejection: dict[str, Any]) -> None:
        if self.out is None:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            descriptor, name = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=".tmp", dir=self.target.parent)
            self.tmp, self.out = Path(name), os.fdopen(descriptor, "w", encoding="utf-8")
        self.out.write(json.dumps(rejection, sort_keys=True) + "\n")

    def commit(self) -> Path | None:
        if self.out is None:
            self.target.unlink(missing_ok=True)
            return None
        self.out.flush()
        os.fsync(self.out.fileno())
        self.out.close()
        os.replace(self.tmp, self.target)
        return self.target

    def discard(self) -> None:
        if self.out is not None:
            self.out.close()
            self.tmp.unlink(missing_ok=True)


def _collect_one(path: Path, limits: ReadLimits, rejected_dir: Path, writer: Any,
                 observe: Callable[[dict[str, Any]], None]) -> tuple[BatchScan, Path | None]:
    rejected = _RejectedLines(rejected_dir / f"{path.stem}.rejected.jsonl")

    def accept(record: dict[str, Any]) -> None:
        writer.writerow([record[c] for c in PAYLOAD_COLUMNS])
        observe(record)

    try:
        scan = stream_batch(path, limits, accept, rejected.write)
    except BaseException:
        rejected.discard()
        raise
    return scan, rejected.commit()
