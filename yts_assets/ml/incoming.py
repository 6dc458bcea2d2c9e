"""Captured payload batches in data/incoming/: what the drift sensor decides per new batch, and the drift pass of
one UTC day (`production_payloads`' daily partition and its `payload_drift` check).

Both read each batch once, streaming, and measure drift with `DriftAccumulator`: bin counts and severity counts
over every record, never a list of records, so memory does not grow with the volume and the summary is exact.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.files import write_json
from ..core.paths import ProjectPaths
from ..core.payloads import (
    PARTITIONS_START,
    BatchScan,
    CollectedPayloads,
    ReadLimits,
    UnreadableBatch,
    batch_day,
    batch_files,
    batch_signature,
    collect_payloads,
    ignore,
    stream_batch,
)
from .drift import SEVERITIES, DriftAccumulator
from .policy import DriftThresholds

DAY_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_TABLE_ROWS = 50


@dataclass(frozen=True)
class BatchDecision:
    name: str
    day: str
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


def measure_batch(path: Path, baseline: dict[str, Any] | None, thresholds: DriftThresholds,
                  limits: ReadLimits) -> tuple[BatchScan, dict[str, Any] | None]:
    """One streaming pass over a batch: its scan (counts, sha256) and its drift summary over every accepted record
    (None without a baseline or without a valid record). Raises UnreadableBatch or OSError."""
    accumulator = DriftAccumulator(baseline, thresholds) if baseline else None
    scan = stream_batch(path, limits, accumulator.push if accumulator else ignore, ignore)
    return scan, accumulator.summary() if accumulator and scan.accepted else None


def scan_incoming(incoming: Path, seen: dict[str, str], baseline: dict[str, Any] | None,
                  thresholds: DriftThresholds, limits: ReadLimits, last_day: str | None = None) -> IncomingScan:
    """New or changed batches since `seen` (name -> signature), each read once with bounded memory.

    A batch that cannot be read (a symlink, a pipe, a folder, over the size limit) is reported and
    left out of `seen`, so it is looked at again on the next scan: nothing unread is ever marked as
    done. So is a batch dated after `last_day` (a clock ahead of this one's): it is read once its day has come.
    A readable batch with no valid line is reported, marked seen, and still handed on so its
    rejected lines get recorded. Drift is measured on every record of each batch.
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
            day = batch_day(path)
            if last_day is not None and day > last_day:
                problems.append(f"{path.name}: dated {day}, after the last day partition {last_day}: will retry")
                continue
            scan, summary = measure_batch(path, baseline, thresholds, limits)
        except (OSError, UnreadableBatch) as exc:
            problems.append(f"{path.name}: cannot be read, will retry ({exc})")
            continue
        now_seen[path.name] = signature
        if not scan.accepted:
            problems.append(f"{path.name}: no valid record ({scan.rejected} malformed lines)")
        decisions.append(BatchDecision(
            name=path.name, day=day, content_sha256=scan.sha256, accepted=scan.accepted, rejected=scan.rejected,
            summary=summary, retrain=bool(summary and summary["is_drift_risk"]),
        ))
    return IncomingScan(decisions=decisions, problems=problems, seen=now_seen)


def check_day(day: str) -> str:
    """A partition key as a day, refused unless it is YYYY-MM-DD (it names files)."""
    if not DAY_FORMAT.fullmatch(day):
        raise ValueError(f"not a day (YYYY-MM-DD): {day!r}")
    return day


def partition_outputs(paths: ProjectPaths, day: str) -> tuple[Path, Path]:
    """(the day's accepted records as CSV, the day's drift report) under artifacts/reports/."""
    reports = paths.canonical.reports_dir
    return reports / "production_payloads" / f"{check_day(day)}.csv", reports / "drift" / f"{day}.json"


def in_partitions(day: str, last_day: str) -> bool:
    return PARTITIONS_START <= day <= last_day


@dataclass
class DayDrift:
    """One day's drift pass: what was read, and the report written for `payload_drift`."""

    day: str
    collected: CollectedPayloads
    report: dict[str, Any]
    records_csv: Path
    report_path: Path


def measure_day(paths: ProjectPaths, day: str, baseline: dict[str, Any] | None, baseline_run_id: str | None,
                thresholds: DriftThresholds, limits: ReadLimits) -> DayDrift:
    """Read the batches of one UTC day once: accepted records into the day's CSV, malformed lines into rejected/,
    and drift as aggregated statistics per batch and for the whole day, into the day's drift report.

    The report: `batches` (name -> summary, None without a baseline), `day` (the summary over all the day's
    records), `baseline_run_id`, counts. Memory, whatever the number of records: the counts of the day and of the
    batch being read, a chunk of at most 65,536 values per input, and per batch its summary and scan (counts,
    five preview records, the first five rejections)."""
    records_csv, report_path = partition_outputs(paths, day)
    drift = _DayAccumulator(DriftAccumulator(baseline, thresholds)) if baseline else None
    collected = collect_payloads(paths.incoming_dir, records_csv, limits, day=day,
                                 observe=drift.start if drift else lambda _: ignore)
    summaries = drift.finish() if drift else None
    report = {
        "partition": day,
        "baseline_run_id": baseline_run_id if baseline else None,
        "batches": summaries,
        "day": drift.day.summary() if drift and drift.day.total else None,
        "accepted_records": sum(scan.accepted for scan in collected.scans),
        "rejected_lines": sum(scan.rejected for scan in collected.scans),
        "unreadable_files": collected.skipped,
    }
    write_json(report_path, report)
    return DayDrift(day=day, collected=collected, report=report, records_csv=records_csv, report_path=report_path)


class _DayAccumulator:
    """Drift of each batch in turn and of the whole day: a batch's counts become its summary and join the day's as
    soon as the next batch starts, so only one batch is open at a time, whatever the number of batches."""

    def __init__(self, template: DriftAccumulator) -> None:
        self.day, self.summaries = template.empty_like(), {}
        self._open: tuple[str, DriftAccumulator] | None = None

    def start(self, name: str) -> Callable[[dict[str, Any]], None]:
        self._close()
        self._open = (name, self.day.empty_like())
        return self._open[1].push

    def finish(self) -> dict[str, dict[str, Any]]:
        self._close()
        return self.summaries

    def _close(self) -> None:
        if self._open is not None:
            name, batch = self._open
            batch.flush()
            if batch.total:  # a batch refused when opened, or with no valid line, has no summary
                self.summaries[name] = batch.summary()
                self.day.merge(batch)
            self._open = None


@dataclass(frozen=True)
class DayVerdict:
    """`payload_drift`'s judgement of one day's report."""

    measured: bool
    worst: str
    drifting: list[str]
    description: str
    table: str


def judge_day(report: dict[str, Any] | None) -> DayVerdict:
    """The worst severity over the day's batches and the whole day (a day of small batches can drift as a whole
    even when each is too small for its PSI to count)."""
    if report is None:
        return DayVerdict(False, "low", [], "no drift report for this day: materialize production_payloads first", "")
    batches = report.get("batches")
    if batches is None:
        return DayVerdict(False, "low", [], "no active run to compare against: run training_job first", "")
    whole = {f"(all of {report['partition']})": report["day"]} if report.get("day") is not None else {}
    rows = {**batches, **whole}
    worst = max((s["batch_severity"] for s in rows.values()), key=SEVERITIES.index, default="low")
    drifting = [name for name, s in rows.items() if s["is_drift_risk"]]
    named = ", ".join(drifting[:10]) + (f" and {len(drifting) - 10} more" if len(drifting) > 10 else "")
    description = (f"{report['partition']}: {len(batches)} batches, {report.get('accepted_records', 0)} records, "
                   f"worst drift severity {worst}" + (f"; drift risk in {named}" if drifting else ""))
    shown = list(batches.items())
    if len(shown) > MAX_TABLE_ROWS:  # a day has up to thousands of batches: the worst of them
        shown = sorted(shown, key=lambda item: -SEVERITIES.index(item[1]["batch_severity"]))[:MAX_TABLE_ROWS]
    table = ("| batch | records | severity | high | drifted features | max PSI |\n"
             "| --- | ---: | --- | ---: | --- | ---: |\n" + "\n".join(
                 f"| {n} | {s['total']} | {s['batch_severity']} | {s['high_severity_count']} | "
                 f"{', '.join(s['drifted_features']) or '-'} | {max(s['psi'].values(), default=0):.3f} |"
                 for n, s in [*shown, *whole.items()]))
    return DayVerdict(True, worst, drifting, description, table)
