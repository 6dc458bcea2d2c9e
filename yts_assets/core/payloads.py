"""Prediction inputs: the pydantic schema, and reading captured batches from data/incoming/."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .files import write_bytes

BATCH_PATTERN = "*.jsonl"
REJECTED_DIR = "rejected"


class ChannelInput(BaseModel):
    """One prediction input, as the API accepts it. Blank strings are refused."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    uploads: float = Field(ge=0, le=10_000_000, description="videos uploaded")
    category: str = Field(min_length=1, max_length=100)
    country: str = Field(min_length=1, max_length=100)
    age: float = Field(ge=0, le=100, description="years since the channel was created")


@dataclass
class BatchRead:
    path: Path
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def validation_reason(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in error.errors())


def read_batch(path: Path) -> BatchRead:
    """Parse a JSON-lines batch. Every malformed line is kept with its line number and reason.

    Raises OSError when the file cannot be read at all (a folder, a dangling link, no permission).
    """
    batch = BatchRead(path=path)
    text = path.read_bytes().decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = ChannelInput.model_validate_json(line)
        except ValidationError as error:
            reason = validation_reason(error)
            batch.rejected.append({"batch": path.name, "line": number, "reason": reason, "raw": line[:2000]})
            continue
        batch.accepted.append({"batch": path.name, "line": number, **record.model_dump()})
    return batch


def batch_files(incoming: Path) -> list[Path]:
    """Every visible *.jsonl entry, files or not: whatever cannot be read is reported by its reader."""
    return sorted(incoming.glob(BATCH_PATTERN)) if incoming.is_dir() else []


def batch_signature(path: Path) -> str:
    """Changes when the file is replaced or grows: mtime and size."""
    stat = path.stat()
    return f"{stat.st_mtime_ns}:{stat.st_size}"


def write_rejected(incoming: Path, batch: BatchRead) -> Path | None:
    """data/incoming/rejected/<batch>.rejected.jsonl, rewritten atomically; removed when nothing is rejected."""
    target = incoming / REJECTED_DIR / f"{batch.path.stem}.rejected.jsonl"
    if not batch.rejected:
        target.unlink(missing_ok=True)
        return None
    write_bytes(target, "".join(json.dumps(r, sort_keys=True) + "\n" for r in batch.rejected).encode("utf-8"))
    return target


def payload_frame(batches: list[BatchRead]) -> pd.DataFrame:
    rows = [record for batch in batches for record in batch.accepted]
    return pd.DataFrame(rows, columns=["batch", "line", "uploads", "category", "country", "age"])
