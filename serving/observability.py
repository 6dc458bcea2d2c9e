"""What the service records about its traffic: Prometheus metrics and payload capture.

Metrics: the original platform's `http_requests_total` and `http_request_latency_seconds` (a histogram,
so `_sum` exists), labelled `path` by route template, never the raw path (unmatched paths share one
value), with method and status (counted by the middleware in middleware.py).

Payload capture: accepted prediction inputs become JSON-lines batches in data/incoming/. Requests
only append to a bounded in-memory buffer; a background thread writes it out. A batch is written
as `.capture-*.jsonl.part` and renamed to `capture-*.jsonl` when it rotates, so the drift sensor
only ever sees complete files. A full buffer drops records; a write error, or a folder deleted
under it, loses records too: all are counted as dropped, errors are counted and logged, and the
next flush recreates the folder. Capture never fails a prediction.
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

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # The original platform's series names (its dashboards and alerts query them), with more labels.
        self.requests = Counter("http_requests_total", "HTTP requests by route template", ["path", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("http_request_latency_seconds", "HTTP request latency by route template",
                                 ["path", "method"],
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
                                 registry=self.registry)
        self.predictions = Counter("yts_predictions_total", "Rows predicted", ["endpoint"], registry=self.registry)
        self.ready = Gauge("yts_model_ready", "1 when the registry's active run is loaded and verified",
                           registry=self.registry)
        self.capture_dropped = Gauge("yts_capture_dropped_records", "Payload records lost: buffer full, write errors, files removed before they were closed",
                                     registry=self.registry)
        self.capture_errors = Gauge("yts_capture_write_errors", "Payload capture write errors", registry=self.registry)


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

    def _lose(self, count: int, why: object) -> None:
        """Records that will never reach disk count as dropped, like a full buffer's."""
        with self._lock:
            self.dropped += count
        log.error("payload capture lost %d records: %s", count, why)

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
            self._lose(len(records), exc)
            self._part = None  # the next flush starts a new file, recreating the folder

    def _write(self, records: list[dict[str, Any]]) -> None:
        if self._part is not None and not self._part.is_file():
            self._lose(self._part_records, f"{self._part} disappeared before it was closed")
            self._part = None
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
        if part is None:
            return
        if not part.is_file():
            self._lose(self._part_records, f"{part} disappeared before it was closed")
            return
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
