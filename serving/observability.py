"""What the service records about its traffic: Prometheus metrics and payload capture.

Metrics: the original platform's `http_requests_total` and `http_request_latency_seconds` (a histogram,
so `_sum` exists), labelled `path` by route template, never the raw path (unmatched paths share one
value), with method and status (counted by the middleware in middleware.py); and the ML story: the
served run, predictions and predicted values per target, unknown inputs, traffic drift over a sliding
window, model age, registry swaps and capture losses.

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
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from yts_assets.ml.drift import drift_report
from yts_assets.ml.features import INPUT_SCHEMAS

if TYPE_CHECKING:
    from .store import ModelStore


PREDICTED_BUCKETS = (0.0, *(step * 10.0 ** power for power in range(2, 10) for step in (1, 2, 5)), 1e10)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
TARGET_OUTPUTS = {"subscribers": "predicted_subscribers", "earnings": "predicted_earnings",
                  "growth": "predicted_growth"}
TRAFFIC_WINDOW = 1_000


class ServiceMetrics:
    """Counters the request path updates. Everything derived from state (the served run, readiness, swaps,
    capture, traffic drift) is read at scrape time by `ServingCollector`. Every label set is bounded."""

    def __init__(self) -> None:
        disable_created_metrics()  # no `*_created` twin of every counter: half the series, nothing lost
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # memory, CPU, open files, start time (restarts)
        # The original platform's series names (its dashboards and alerts query them), with more labels.
        self.requests = Counter("http_requests_total", "HTTP requests by route template", ["path", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("http_request_latency_seconds", "HTTP request latency by route template",
                                 ["path", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.predictions = Counter("yts_predictions_total", "Rows predicted, by endpoint", ["endpoint"],
                                   registry=self.registry)
        predicted = Histogram("yts_predicted_value", "Predicted values in raw units, by target (its _count is the "
                              "predictions per target)", ["target"], buckets=PREDICTED_BUCKETS, registry=self.registry)
        self.predicted = {target: predicted.labels(target) for target in TARGET_OUTPUTS}
        unknown = Counter("yts_unknown_inputs_total", "Inputs outside the training vocabulary, by input",
                          ["input"], registry=self.registry)
        self.unknown = {name: unknown.labels(name) for name in ("category", "country", "channel_type")}
        by_schema = Counter("yts_predictions_by_schema_total", "Rows predicted, by the input schema whose models "
                            "served them (simulated sweeps included, like yts_predictions_total)", ["input_schema"],
                            registry=self.registry)
        self.by_schema = {schema: by_schema.labels(schema) for schema in INPUT_SCHEMAS}

    def observe(self, endpoint: str, rows: list[dict[str, Any]], unseen: list[list[str]] | None = None) -> None:
        """Rows of a response (each with its `input_schema`) and the unseen inputs of each."""
        self.predictions.labels(endpoint).inc(len(rows))
        if len(rows) == 1:
            self.by_schema[rows[0]["input_schema"]].inc()
        else:
            schemas = [row["input_schema"] for row in rows]
            for schema, counter in self.by_schema.items():
                if found := schemas.count(schema):
                    counter.inc(found)
        for target, output in TARGET_OUTPUTS.items():
            histogram = self.predicted[target]
            for row in rows:
                histogram.observe(row[output])
        for names in unseen or ():
            for name in names:
                self.unknown[name].inc()


class TrafficWindow:
    """The last `size` prediction inputs, appended in O(1) per request; drift over them is computed at scrape
    (`ServingCollector`), at most once per new input, against the served run's baseline."""

    def __init__(self, size: int = TRAFFIC_WINDOW) -> None:
        self.size = size
        self._records: deque[dict[str, Any]] = deque(maxlen=size)
        self.added = 0
        self.last_input = 0.0
        self._lock = threading.Lock()
        self._cached: tuple[tuple[str, int], dict[str, Any]] | None = None

    def add(self, records: list[dict[str, Any]]) -> None:
        with self._lock:
            self._records.extend(records)
            self.added += len(records)
            self.last_input = time.time()

    def summary(self, run_id: str, baseline: dict[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            key, records = (run_id, self.added), list(self._records)
        if not records:
            return None
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, drift_report(records, baseline)["summary"])
        return self._cached[1]


class ServingCollector:
    """State read at scrape: served run, readiness, model age, registry swaps, capture and traffic drift."""

    def __init__(self, store: "ModelStore", capture: "PayloadCapture | None", traffic: TrafficWindow) -> None:
        self.store, self.capture, self.traffic = store, capture, traffic

    def collect(self) -> Iterator[Any]:
        store, run = self.store, self.store.current
        yield GaugeMetricFamily("yts_model_ready", "1 when the registry's active run is loaded and verified",
                                value=1 if store.ready else 0)
        yield CounterMetricFamily("yts_registry_swaps", "Times the served run changed (the first load included)",
                                  value=store.swaps)
        info = GaugeMetricFamily("yts_serving_run_info", "The run being served (value 1)",
                                 labels=["run_id", "data_sha256", "trained_at"])
        if run is not None:
            trained_at = run.manifest.get("created_at", "")
            info.add_metric([run.run_id, run.manifest["data"]["data_sha256"], trained_at], 1)
            yield info
            trained = datetime.fromisoformat(trained_at).timestamp()
            yield GaugeMetricFamily("yts_model_trained_timestamp_seconds", "When the served run was trained (Unix time)",
                                    value=trained)
            yield GaugeMetricFamily("yts_model_age_seconds", "Seconds since the served run was trained",
                                    value=time.time() - trained)
            yield from self._traffic(run.run_id, run.baseline)
        else:
            yield info
        if self.capture is not None:
            for name, value, meaning in (("written_records", self.capture.written, "Payload records written"),
                                         ("dropped_records", self.capture.dropped, "Payload records lost: buffer "
                                          "full, write errors, files removed before they were closed"),
                                         ("write_errors", self.capture.errors, "Payload capture write errors")):
                yield CounterMetricFamily(f"yts_capture_{name}", meaning, value=value)

    def _traffic(self, run_id: str, baseline: dict[str, Any]) -> Iterator[Any]:
        summary = self.traffic.summary(run_id, baseline)
        records = summary["total_records"] if summary else 0
        yield GaugeMetricFamily("yts_traffic_drift_records", f"Inputs in the sliding window (the last {self.traffic.size})"
                                " that the drift gauges describe", value=records)
        if summary is None:
            return
        yield GaugeMetricFamily("yts_traffic_last_input_timestamp_seconds", "When the newest input entered the window "
                                "(Unix time): how old the drift gauges are", value=self.traffic.last_input)
        yield GaugeMetricFamily("yts_traffic_drift_high_severity_share", "Share of high-severity inputs in the window",
                                value=summary["high_severity_share"])
        yield GaugeMetricFamily("yts_traffic_drift_risk", "1 when the window is a drift risk (the drift check's rule)",
                                value=1 if summary["is_drift_risk"] else 0)
        psi = GaugeMetricFamily("yts_traffic_drift_psi", "PSI of each input over the window", labels=["feature"])
        for feature, value in summary["psi"].items():
            psi.add_metric([feature], value)
        yield psi


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
