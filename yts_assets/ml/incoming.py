"""Scan data/incoming/ for new payload batches and decide, per batch, whether it drifted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.files import sha256_file
from ..core.payloads import batch_files, batch_signature, read_batch
from .drift import drift_report
from .policy import DriftThresholds


@dataclass(frozen=True)
class BatchDecision:
    name: str
    content_sha256: str
    accepted: int
    rejected: int
    summary: dict[str, Any] | None
    retrain: bool


@dataclass(frozen=True)
class IncomingScan:
    decisions: list[BatchDecision]
    problems: list[str]
    seen: dict[str, str]


def scan_incoming(incoming: Path, seen: dict[str, str], baseline: dict[str, Any] | None,
                  thresholds: DriftThresholds) -> IncomingScan:
    """New or changed batches since `seen` (name -> signature).

    A batch that cannot be read is reported and left out of `seen`, so it is read again on the
    next scan: nothing unread is ever marked as done. A readable batch with no valid line is
    reported, marked seen, and still handed on so its rejected lines get recorded.
    """
    decisions: list[BatchDecision] = []
    problems: list[str] = []
    now_seen: dict[str, str] = {}
    for path in batch_files(incoming):
        try:
            signature = batch_signature(path)
            if seen.get(path.name) == signature:
                now_seen[path.name] = signature
                continue
            batch = read_batch(path)
            digest = sha256_file(path)
        except OSError as exc:
            problems.append(f"{path.name}: cannot be read, will retry ({type(exc).__name__}: {exc})")
            continue
        now_seen[path.name] = signature
        if not batch.accepted:
            problems.append(f"{path.name}: no valid record ({len(batch.rejected)} malformed lines)")
        summary = drift_report(batch.accepted, baseline, thresholds)["summary"] if baseline and batch.accepted else None
        decisions.append(BatchDecision(
            name=path.name, content_sha256=digest, accepted=len(batch.accepted), rejected=len(batch.rejected),
            summary=summary, retrain=bool(summary and summary["is_drift_risk"]),
        ))
    return IncomingScan(decisions=decisions, problems=problems, seen=now_seen)
