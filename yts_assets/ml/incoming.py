"""Scan data/incoming/ for new payload batches and decide, per batch, whether it drifted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.files import sha256_file
from ..core.payloads import ReadLimits, UnreadableBatch, batch_files, batch_signature, ignore, stream_batch
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
                  thresholds: DriftThresholds, limits: ReadLimits) -> IncomingScan:
    """New or changed batches since `seen` (name -> signature), read with bounded memory.

    A batch that cannot be read (a symlink, a pipe, a folder, over the size limit) is reported and
    left out of `seen`, so it is looked at again on the next scan: nothing unread is ever marked as
    done. A readable batch with no valid line is reported, marked seen, and still handed on so its
    rejected lines get recorded. Drift is measured on a reservoir sample of each batch.
    """
    decisions: list[BatchDecision] = []
    files, skipped = batch_files(incoming)
    problems = [f"{name}: cannot be read, will retry ({why})" for name, why in skipped.items()]
    now_seen: dict[str, str] = {}
    for path in files:
        try:
            signature = batch_signature(path)
            if seen.get(path.name) == signature:
                now_seen[path.name] = signature
                continue
            scan = stream_batch(path, limits, ignore, ignore)
            digest = sha256_file(path)
        except (OSError, UnreadableBatch) as exc:
            problems.append(f"{path.name}: cannot be read, will retry ({exc})")
            continue
        now_seen[path.name] = signature
        if not scan.accepted:
            problems.append(f"{path.name}: no valid record ({scan.rejected} malformed lines)")
        summary = drift_report(scan.sample, baseline, thresholds)["summary"] if baseline and scan.sample else None
        decisions.append(BatchDecision(
            name=path.name, content_sha256=digest, accepted=scan.accepted, rejected=scan.rejected,
            summary=summary, retrain=bool(summary and summary["is_drift_risk"]),
        ))
    return IncomingScan(decisions=decisions, problems=problems, seen=now_seen)
