"""Payload drift by day: which UTC day a batch belongs to, a day's drift pass reads only its own batches, whole-day
statistics, hostile entries, and memory that does not grow with the records."""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import pytest

from yts_assets.core.files import sha256_file
from yts_assets.core.paths import ProjectPaths
from yts_assets.core.payloads import ReadLimits, batch_day, batch_files
from yts_assets.ml.dataset import load_raw, process
from yts_assets.ml.demo import demo_csv_bytes
from yts_assets.ml.drift import drift_summary
from yts_assets.ml.incoming import judge_day, measure_batch, measure_day, partition_outputs
from yts_assets.ml.policy import DriftThresholds
from yts_assets.ml.reports import training_baseline

LIMITS = ReadLimits(max_file_bytes=1 << 30, max_line_bytes=1024)
DAY_1, DAY_2 = "2025-03-01", "2025-03-02"


@pytest.fixture(scope="module")
def demo() -> tuple[dict, list[dict]]:
    """A baseline from the demo data, and records drawn from the same data (not a drift risk)."""
    processed = process(load_raw(Path("demo"), demo_csv_bytes()).frame).frame
    baseline = json.loads(json.dumps(training_baseline(processed)))
    rows = processed[["uploads", "age", "category", "country"]].dropna().sample(600, random_state=1, replace=True)
    return baseline, json.loads(rows.to_json(orient="records"))


def capture_name(day: str, hour: int = 12, pid: int = 4242) -> str:
    """As serving/observability.py names a closed batch: capture-<UTC stamp>-<pid>.jsonl."""
    return f"capture-{day.replace('-', '')}T{hour:02d}0000123456Z-{pid}.jsonl"


def write(folder: Path, name: str, records: list[dict], extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps({**r, "run_id": "r1", "received_at": "x"}) + "\n" for r in records) + extra)
    return path


def paths_at(root: Path) -> ProjectPaths:
    return ProjectPaths(root=root, artifact_dir=root / "artifacts")


def test_the_day_is_the_stamp_in_the_name_else_the_mtime(tmp_path: Path):
    stamped = write(tmp_path, capture_name(DAY_1, hour=23), [])
    os.utime(stamped, (0, datetime(2025, 3, 2, 0, 30, tzinfo=timezone.utc).timestamp()))  # closed after midnight
    assert batch_day(stamped) == DAY_1  # the name decides: the capture stamped it when it opened it
    undated = write(tmp_path, "manual-export.jsonl", [])
    os.utime(undated, (0, datetime(2025, 3, 2, 23, 59, 59, tzinfo=timezone.utc).timestamp()))
    assert batch_day(undated) == DAY_2
    not_a_date = write(tmp_path, "capture-20251340T000000Z-1.jsonl", [])  # month 13: no date, so the mtime
    os.utime(not_a_date, (0, datetime(2025, 3, 1, 0, 0, 1, tzinfo=timezone.utc).timestamp()))
    assert batch_day(not_a_date) == DAY_1


def test_a_day_reads_only_its_own_batches(tmp_path: Path, demo):
    baseline, records = demo
    paths = paths_at(tmp_path)
    incoming = paths.incoming_dir
    first = write(incoming, capture_name(DAY_1, 9), records[:200], extra="{broken\n")
    second = write(incoming, capture_name(DAY_1, 10), records[200:400])
    other = write(incoming, capture_name(DAY_2, 9), [{**r, "uploads": r["uploads"] * 100} for r in records[400:]])
    undated = write(incoming, "late.jsonl", records[:50])
    os.utime(undated, (0, datetime(2025, 3, 2, 8, tzinfo=timezone.utc).timestamp()))
    assert [p.name for p in batch_files(incoming, DAY_1)[0]] == [first.name, second.name]
    assert [p.name for p in batch_files(incoming, DAY_2)[0]] == [other.name, undated.name]

    day_1 = measure_day(paths, DAY_1, baseline, "run-a", DriftThresholds(), LIMITS)
    assert [s.name for s in day_1.collected.scans] == [first.name, second.name]
    assert day_1.report["batches"].keys() == {first.name, second.name}
    assert day_1.report["day"]["total"] == day_1.report["accepted_records"] == 400
    assert day_1.report["rejected_lines"] == 1 and day_1.collected.scans[0].sha256 == sha256_file(first)
    rows = day_1.records_csv.read_text().splitlines()
    assert len(rows) == 401 and {row.split(",")[0] for row in rows[1:]} == {first.name, second.name}
    assert (day_1.records_csv, day_1.report_path) == partition_outputs(paths, DAY_1)
    assert json.loads(day_1.report_path.read_text()) == json.loads(json.dumps(day_1.report))
    assert (incoming / "rejected" / f"{first.stem}.rejected.jsonl").is_file()
    assert not (incoming / "rejected" / f"{second.stem}.rejected.jsonl").exists()  # a clean batch leaves no file
    assert judge_day(day_1.report).worst == "low"

    day_2 = measure_day(paths, DAY_2, baseline, "run-a", DriftThresholds(), LIMITS)
    assert day_2.report["batches"].keys() == {other.name, undated.name}
    assert day_2.report["batches"][other.name]["drifted_features"] == ["uploads"]
    verdict = judge_day(day_2.report)
    assert verdict.worst == "high" and other.name in verdict.drifting and "(all of 2025-03-02)" in verdict.drifting
    assert not partition_outputs(paths, "2025-03-03")[1].exists()


def test_the_day_summary_is_exact_and_sees_drift_that_small_batches_hide(tmp_path: Path, demo):
    baseline, records = demo
    paths = paths_at(tmp_path)
    one_category = [{**r, "category": "Music"} for r in records[:240]]
    for hour in range(4):  # four batches of 60: each too small for its PSI to count
        write(paths.incoming_dir, capture_name(DAY_1, hour), one_category[hour * 60:(hour + 1) * 60])
    report = measure_day(paths, DAY_1, baseline, "run-a", DriftThresholds(), LIMITS).report
    assert all(not s["psi_used_for_risk"] and not s["is_drift_risk"] for s in report["batches"].values())
    assert report["day"] == drift_summary(one_category, baseline)  # merged counts: the same as one pass over all
    assert report["day"]["is_drift_risk"] and report["day"]["drifted_features"] == ["category"]
    assert judge_day(report).worst == "high"


def test_no_baseline_reads_and_reports_without_measuring(tmp_path: Path, demo):
    paths = paths_at(tmp_path)
    write(paths.incoming_dir, capture_name(DAY_1), demo[1][:10])
    report = measure_day(paths, DAY_1, None, None, DriftThresholds(), LIMITS).report
    assert report["batches"] is None and report["day"] is None and report["accepted_records"] == 10
    verdict = judge_day(report)
    assert not verdict.measured and "no active run" in verdict.description


def test_hostile_entries_are_skipped_per_day_and_nothing_is_followed(tmp_path: Path, demo):
    paths = paths_at(tmp_path)
    incoming, outside = paths.incoming_dir, tmp_path / "secret.txt"
    outside.write_text("root:x:0:0:secret line\n")
    good = write(incoming, capture_name(DAY_1), demo[1][:5])
    (incoming / capture_name(DAY_1, 1)).symlink_to(outside)
    os.mkfifo(incoming / capture_name(DAY_1, 2))
    (incoming / capture_name(DAY_1, 3)).mkdir()
    (incoming / capture_name(DAY_2, 3)).mkdir()  # another day's: not this day's business
    write(incoming, capture_name(DAY_1, 4), [], extra=json.dumps({**demo[1][0], "note": "x" * 2000}) + "\n")
    measured = measure_day(paths, DAY_1, demo[0], "run-a", DriftThresholds(), LIMITS)
    assert set(measured.report["unreadable_files"]) == {capture_name(DAY_1, h) for h in (1, 2, 3)}
    assert [s.name for s in measured.collected.scans] == [capture_name(DAY_1, 4), good.name]
    assert measured.collected.scans[0].rejected == 1  # the oversize line, refused and recorded
    assert "secret" not in "".join(p.read_text() for p in (incoming / "rejected").iterdir())


def test_measure_batch_hashes_what_it_reads_and_measures_every_record(tmp_path: Path, demo):
    baseline, records = demo
    path = write(tmp_path, "b.jsonl", records, extra="not json\n")
    scan, summary = measure_batch(path, baseline, DriftThresholds(), LIMITS)
    assert scan.sha256 == sha256_file(path) and (scan.accepted, scan.rejected) == (600, 1)
    assert summary == drift_summary(records, baseline) and len(scan.preview) == 5
    assert measure_batch(path, None, DriftThresholds(), LIMITS)[1] is None


def bounded_memory_batch(folder: Path, records: list[dict], lines: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / capture_name(DAY_1)
    block = "".join(json.dumps({**records[i % len(records)], "run_id": "r1", "received_at": "2025-03-01T12:00:00Z"})
                    + "\n" for i in range(1_000))
    with open(path, "w") as out:
        for _ in range(lines // 1_000):
            out.write(block)
    return path


@pytest.mark.slow  # about 3 s under tracemalloc
def test_a_day_of_100k_records_is_measured_in_bounded_memory(tmp_path: Path, demo):
    baseline, records = demo
    paths = paths_at(tmp_path)
    bounded_memory_batch(paths.incoming_dir, records, 100_000)
    tracemalloc.start()
    try:
        started = time.perf_counter()
        measured = measure_day(paths, DAY_1, baseline, "run-a", DriftThresholds(), LIMITS)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert measured.report["day"]["total"] == 100_000
    # Per-record detail would cost about 1 KiB a record (about 100 MiB here); the chunked statistics stay small.
    print(f"100,000 records: peak {peak / (1 << 20):.1f} MiB traced, {elapsed:.1f} s")
    assert peak < 24 * (1 << 20), f"peak {peak / (1 << 20):.1f} MiB traced for 100,000 records"
    assert elapsed < 30
