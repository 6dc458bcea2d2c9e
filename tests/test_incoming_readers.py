"""Readers of data/incoming/ and payload capture, against a hostile or unlucky shared folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from serving.observability import PayloadCapture
from yts_assets.core.payloads import ReadLimits, UnreadableBatch, batch_files, collect_payloads, ignore, stream_batch
from yts_assets.ml.incoming import scan_incoming
from yts_assets.ml.policy import DriftThresholds

REPO = Path(__file__).resolve().parents[1]
ITEM = {"uploads": 1200, "category": "Music", "country": "India", "age": 9}
LIMITS = ReadLimits(max_file_bytes=1 << 20, max_line_bytes=1024)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_symlinks_pipes_and_folders_are_skipped_and_nothing_outside_is_copied(tmp_path: Path):
    incoming, outside = tmp_path / "incoming", tmp_path / "secret.txt"
    incoming.mkdir()
    outside.write_text("root:x:0:0:secret line\n")
    write_lines(incoming / "good.jsonl", [json.dumps(ITEM)])
    (incoming / "link.jsonl").symlink_to(outside)
    os.mkfifo(incoming / "pipe.jsonl")  # a reader that opened it would hang
    (incoming / "folder.jsonl").mkdir()
    files, skipped = batch_files(incoming)
    assert [p.name for p in files] == ["good.jsonl"]
    assert set(skipped) == {"link.jsonl", "pipe.jsonl", "folder.jsonl"} and "symlink" in skipped["link.jsonl"]

    result: dict = {}
    reader = threading.Thread(target=lambda: result.update(
        collected=collect_payloads(incoming, tmp_path / "payloads.csv", LIMITS)), daemon=True)
    reader.start()
    reader.join(timeout=30)
    assert not reader.is_alive(), "a reader blocked on the named pipe"
    collected = result["collected"]
    assert [s.name for s in collected.scans] == ["good.jsonl"] and set(collected.skipped) == set(skipped)
    rejected = incoming / "rejected"
    assert not rejected.exists() or "secret" not in "".join(p.read_text() for p in rejected.iterdir())
    with pytest.raises(UnreadableBatch, match="cannot be opened"):  # even when asked directly, a link is not followed
        stream_batch(incoming / "link.jsonl", LIMITS, ignore, ignore)

    scan = scan_incoming(incoming, {}, None, DriftThresholds(), LIMITS)
    assert [d.name for d in scan.decisions] == ["good.jsonl"]
    assert any(p.startswith("link.jsonl: cannot be read, will retry") for p in scan.problems)
    assert "link.jsonl" not in scan.seen


def test_size_limits_per_file_and_per_line(tmp_path: Path):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    write_lines(incoming / "long-line.jsonl", [json.dumps(ITEM), json.dumps({**ITEM, "category": "x" * 5000}),
                                               json.dumps(ITEM)])
    (incoming / "huge.jsonl").write_bytes(b"{}\n" * 400_000)  # 1.2 MB, over the 1 MiB limit
    collected = collect_payloads(incoming, tmp_path / "payloads.csv", LIMITS)
    [scan] = collected.scans
    assert (scan.accepted, scan.rejected) == (2, 1)
    assert scan.first_rejections[0]["line"] == 2 and "longer than 1024 bytes" in scan.first_rejections[0]["reason"]
    assert "over the limit of 1048576" in collected.skipped["huge.jsonl"]
    rows = (tmp_path / "payloads.csv").read_text().splitlines()
    assert rows[0] == "batch,line,uploads,category,country,age" and [r.split(",")[1] for r in rows[1:]] == ["1", "3"]


BIG_BATCH_SCRIPT = """
import json, re, sys
from pathlib import Path
from yts_assets.core.paths import ProjectPaths
from yts_assets.core.payloads import ReadLimits, batch_day
from yts_assets.ml.dataset import load_raw, process
from yts_assets.ml.demo import demo_csv_bytes
from yts_assets.ml.incoming import measure_day
from yts_assets.ml.policy import DriftThresholds
from yts_assets.ml.reports import training_baseline
root = Path(sys.argv[1])
baseline = json.loads(json.dumps(training_baseline(process(load_raw(Path("demo"), demo_csv_bytes()).frame).frame)))
paths = ProjectPaths(root=root, artifact_dir=root / "artifacts")
day = batch_day(paths.incoming_dir / "big.jsonl")
measured = measure_day(paths, day, baseline, "run", DriftThresholds(), ReadLimits(1 << 30, 1 << 16))
[scan] = measured.collected.scans
peak = re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)  # this process, not the forked parent
print(scan.accepted, scan.rejected, measured.report["day"]["total"], len(scan.preview), peak)
"""


@pytest.mark.slow
def test_a_200_mb_batch_is_read_and_measured_in_bounded_memory(tmp_path: Path):
    incoming = tmp_path / "data" / "incoming"
    incoming.mkdir(parents=True)
    line = (json.dumps({**ITEM, "note": "n" * 40}) + "\n").encode()
    count = 200 * (1 << 20) // len(line) + 1
    with open(incoming / "big.jsonl", "wb") as out:
        for _ in range(count // 10_000):
            out.write(line * 10_000)
    size = (incoming / "big.jsonl").stat().st_size
    assert size >= 199 * (1 << 20)
    completed = subprocess.run([sys.executable, "-c", BIG_BATCH_SCRIPT, str(tmp_path)], cwd=REPO, capture_output=True,
                               text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    accepted, rejected, measured, preview, max_rss_kib = map(int, completed.stdout.split())
    assert accepted == measured == size // len(line) and rejected == 0 and preview == 5
    assert max_rss_kib < 300 * 1024, f"peak RSS {max_rss_kib / 1024:.0f} MiB for a {size >> 20} MiB batch"


def test_capture_recreates_its_folder_and_counts_what_it_lost(tmp_path: Path):
    folder = tmp_path / "incoming"
    capture = PayloadCapture(folder, max_buffer=100, rotate_records=1000, rotate_seconds=60, flush_seconds=60)
    capture.add([ITEM] * 3)
    capture.flush()
    [part] = folder.glob(".capture-*.part")
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()  # an operator cleans up the folder under a running API
    capture.add([ITEM] * 2)
    capture.flush()
    assert capture.dropped == 3  # the 3 records in the deleted part file
    capture.flush(final=True)
    [batch] = folder.glob("capture-*.jsonl")
    assert len(batch.read_text().splitlines()) == 2  # recovered: later records land in a new file

    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    broken = PayloadCapture(blocked, max_buffer=100, rotate_records=1000, rotate_seconds=60, flush_seconds=60)
    broken.add([ITEM] * 4)
    broken.flush()
    assert (broken.errors, broken.dropped) == (1, 4)
    blocked.unlink()
    broken.add([ITEM])
    broken.flush(final=True)
    assert len(next(blocked.glob("capture-*.jsonl")).read_text().splitlines()) == 1
