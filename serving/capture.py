"""Payload capture: accepted prediction inputs become JSON-lines batches in data/incoming/.

Requests only append to a bounded in-memory buffer; a background thread writes it out. A batch
is written as `.capture-*.jsonl.part` and renamed to `capture-*.jsonl` when it rotates, so the
drift sensor only ever sees complete files. A full buffer drops records (counted), and a write
error is logged and counted: capture never fails a prediction.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger("yts.serving.capture")


class PayloadCapture:
    def __init__(self, directory: Path, *, max_buffer: int, rotate_records: int, rotate_seconds: float,
                 flush_seconds: float) -> None:
        self.directory = directory
        self.rotate_records = rotate_records
        self.rotate_seconds = rotate_seconds
        self.flush_seconds = flush_seconds
        self._buffer: deque[dict[str, Any]] = deque()
        self._max_buffer = max_buffer
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._part: Path | None = None
        self._part_records = 0
        self._part_opened = 0.0
        self.written = 0
        self.dropped = 0
        self.errors = 0

    def add(self, records: list[dict[str, Any]]) -> int:
        """Queue records; returns how many were dropped because the buffer is full."""
        with self._lock:
            room = max(self._max_buffer - len(self._buffer), 0)
            self._buffer.extend(records[:room])
            dropped = len(records) - min(room, len(records))
            self.dropped += dropped
        if len(self._buffer) >= self.rotate_records:
            self._wake.set()
        return dropped

    def _drain(self) -> list[dict[str, Any]]:
        with self._lock:
            records = list(self._buffer)
            self._buffer.clear()
        return records

    def flush(self, final: bool = False) -> None:
        records = self._drain()
        try:
            if records:
                self._write(records)
            if self._part and (final or self._part_records >= self.rotate_records
                               or time.monotonic() - self._part_opened >= self.rotate_seconds):
                self._rotate()
        except OSError as exc:
            self.errors += 1
            log.error("payload capture failed, %d records lost: %s", len(records), exc)

    def _write(self, records: list[dict[str, Any]]) -> None:
        if self._part is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            self._part = self.directory / f".capture-{stamp}-{os.getpid()}.jsonl.part"
            self._part_records = 0
            self._part_opened = time.monotonic()
        with open(self._part, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(record, separators=(",", ":")) + "\n" for record in records))
        self._part_records += len(records)
        self.written += len(records)

    def _rotate(self) -> None:
        part, self._part = self._part, None
        if part is not None and part.exists():
            os.replace(part, part.with_name(part.name.removeprefix(".").removesuffix(".part")))

    def start(self) -> None:
        def run() -> None:
            while not self._stop.is_set():
                self._wake.wait(self.flush_seconds)
                self._wake.clear()
                self.flush()

        self._thread = threading.Thread(target=run, name="yts-payload-capture", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)
        self.flush(final=True)
