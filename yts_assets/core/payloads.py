"""Prediction inputs: the pydantic schema, and reading captured batches from data/incoming/.

Readers of that shared folder trust nothing in it: they take only regular `*.jsonl` files
(never symlinks, pipes or folders), refuse files and lines over a size limit, and stream line by
line, so memory stays bounded whatever the batch size. Per batch they keep counts and a
reservoir sample of accepted records (exact for batches up to the sample size); every malformed
line goes to `rejected/<batch>.rejected.jsonl` with its line number and reason.
"""

from __future__ import annotations

import csv
import json
import os
import random
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import config
from .files import atomic_write

BATCH_SUFFIX = ".jsonl"
REJECTED_DIR = "rejected"
PAYLOAD_COLUMNS = ("batch", "line", "uploads", "category", "country", "age")
SAMPLE_SIZE = 10_000
RAW_KEPT_CHARS = 2_000
SKIP_CHUNK = 1 << 16
MAX_UPLOADS = 2_000_000


class ChannelInput(BaseModel):
    """One prediction input, with the original platform's types and bounds. Blank strings are refused;
    unknown fields are kept aside (`unknown_fields`) so the API can name them, never used."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="allow")

    uploads: int = Field(ge=0, le=MAX_UPLOADS, description="videos uploaded")
    category: str = Field(min_length=1, max_length=100)
    country: str = Field(min_length=1, max_length=100)
    age: int = Field(ge=0, le=100, description="years since the channel was created")

    def inputs(self) -> dict[str, Any]:
        """The four model inputs, without any unknown field."""
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
    """What one pass over a batch found: counts, a reservoir sample of accepted records, the first rejections."""

    name: str
    accepted: int = 0
    rejected: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)
    first_rejections: list[dict[str, Any]] = field(default_factory=list)


def validation_reason(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in error.errors())


def batch_files(incoming: Path) -> tuple[list[Path], dict[str, str]]:
    """Regular `*.jsonl` files directly in `incoming`, and {name: why} for entries that were skipped."""
    files, skipped = [], {}
    if not incoming.is_dir():
        return files, skipped
    with os.scandir(incoming) as entries:
        for entry in entries:
            if not entry.name.endswith(BATCH_SUFFIX) or entry.name.startswith("."):
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


def open_batch(path: Path, limits: ReadLimits) -> IO[bytes]:
    """Open a regular file without following links or blocking on a pipe, within the size limit."""
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
    return os.fdopen(descriptor, "rb")


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
                 on_rejected: Callable[[dict[str, Any]], None], sample_size: int = SAMPLE_SIZE) -> BatchScan:
    """One streaming pass: every line is validated and handed to a callback. Raises UnreadableBatch."""
    scan = BatchScan(name=path.name)
    sampler = random.Random(path.name)
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
                    accepted = {"batch": path.name, "line": number, **record.inputs()}
                    scan.accepted += 1
                    if len(scan.sample) < sample_size:
                        scan.sample.append(accepted)
                    elif (slot := sampler.randrange(scan.accepted)) < sample_size:
                        scan.sample[slot] = accepted
                    on_accepted(accepted)
                    continue
            rejection = {"batch": path.name, "line": number, "reason": reason, "raw": raw}
            scan.rejected += 1
            if len(scan.first_rejections) < 5:
                scan.first_rejections.append(rejection)
            on_rejected(rejection)
    return scan


def ignore(_: dict[str, Any]) -> None:
    return None


@dataclass
class CollectedPayloads:
    scans: list[BatchScan]
    skipped: dict[str, str]
    rejected_files: list[Path]
    digest: str


def collect_payloads(incoming: Path, target_csv: Path, limits: ReadLimits) -> CollectedPayloads:
    """Stream every batch into one CSV of accepted records, and each batch's malformed lines into rejected/."""
    files, skipped = batch_files(incoming)
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
                try:
                    scan, rejected_file = _collect_one(path, limits, incoming / REJECTED_DIR, writer)
                except UnreadableBatch as exc:
                    skipped[path.name] = str(exc)
                    continue
                scans.append(scan)
                if rejected_file is not None:
                    rejected_files.append(rejected_file)

    digest = atomic_write(target_csv, write_all)
    return CollectedPayloads(scans=scans, skipped=skipped, rejected_files=rejected_files, digest=digest)


def _collect_one(path: Path, limits: ReadLimits, rejected_dir: Path, writer: Any) -> tuple[BatchScan, Path | None]:
    target = rejected_dir / f"{path.stem}.rejected.jsonl"
    holder: dict[str, BatchScan] = {}

    def write_rejected(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as out:
            holder["scan"] = stream_batch(
                path, limits, lambda r: writer.writerow([r[c] for c in PAYLOAD_COLUMNS]),
                lambda r: out.write(json.dumps(r, sort_keys=True) + "\n"))

    atomic_write(target, write_rejected)
    scan = holder["scan"]
    if scan.rejected == 0:
        target.unlink(missing_ok=True)
        return scan, None
    return scan, target
