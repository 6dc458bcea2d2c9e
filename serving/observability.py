"""What the service records about its traffic: Prometheus metrics and payload capture.

Metrics: the original platform's `http_requests_total` and `http_request_latency_seconds` (a histogram,
so `_sum` exists), labelled `path` by route template, never the raw path (unmatched paths share one
value), with method and status (counted by the middleware in middleware.py); and the ML story: the
served run, predictions and predicted values per target, unknown inputs, traffic drift over a sliding
window, model age, registry swaps and capture losses.

One process or several: everything a worker counts or knows (requests, predictions, readiness, the run it
serves, swaps, capture) is a prometheus-client metric, which with several workers (multiprocess.py) lives in
mmap files that every scrape merges, each gauge by its own rule: `yts_model_ready` is the lowest of the live
workers' (1 only when all are ready), `yts_serving_run_info` has a series per run some live worker serves.
What is derived is computed once, at scrape, by the worker that answers: the model's age (from the oldest
served run) and traffic drift over the last inputs of all workers (each publishes its window every second).

Payload capture: accepted prediction inputs become JSON-lines batches in data/incoming/. Requests
only append to a bounded in-memory buffer; a background thread writes it out. A batch is written
as `.capture-*.jsonl.part` and renamed to `capture-*.jsonl` when it rotates, so the drift sensor
only ever sees complete files. A full buffer drops records; a write error, or a folder deleted
under it, loses records too: all are counted as dropped, errors are counted and logged, and the
next flush recreates the folder. Capture never fails a prediction. With several workers, each writes its
own batches (the pid is in their names).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from yts_assets.core.processes import process_alive
from yts_assets.ml.drift import drift_report
from yts_assets.ml.features import INPUT_SCHEMAS

from . import multiprocess

if TYPE_CHECKING:
    from .store import ModelStore


PREDICTED_BUCKETS = (0.0, *(step * 10.0 ** power for power in range(2, 10) for step in (1, 2, 5)), 1e10)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
TARGET_OUTPUTS = {"subscribers": "predicted_subscribers", "earnings": "predicted_earnings",
                  "growth": "predicted_growth"}
ENDPOINTS = ("predict", "batch", "simulate", "recommendation")
TRAFFIC_WINDOW = 1_000
PUBLISH_SECONDS = 1.0  # with several workers: how often each publishes its traffic window
RUN_INFO = "yts_serving_run_info"


@dataclass(frozen=True)
class CaptureCounters:
    written: Any
    dropped: Any
    errors: Any


class ServiceMetrics:
    """The metrics of one process: what requests, the store and capture update. Every label set is bounded.

    `families()` gives what /metrics shows of them: this process's values, or with `multiprocess_dir` every
    worker's, merged. `ServingCollector` adds what is derived at scrape."""

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        disable_created_metrics()  # no `*_created` twin of every counter: half the series, nothing lost
        self.multiprocess_dir = multiprocess_dir
        if multiprocess_dir is not None:
            multiprocess.use_multiprocess_values(multiprocess_dir)  # before the first metric is created
        self._own = own = CollectorRegistry()  # the metric objects; with several workers, only their files are read
        self.registry = CollectorRegistry()  # what /metrics exposes
        if multiprocess_dir is None:  # with several, one process's memory or start time would describe a random worker
            ProcessCollector(registry=self.registry)  # memory, CPU, open files, start time (restarts)
        # The original platform's series names (its dashboards and alerts query them), with more labels.
        self.requests = Counter("http_requests_total", "HTTP requests by route template", ["path", "method", "status"],
                                registry=own)
        self.latency = Histogram("http_request_latency_seconds", "HTTP request latency by route template",
                                 ["path", "method"], buckets=LATENCY_BUCKETS, registry=own)
        predictions = Counter("yts_predictions_total", "Rows predicted, by endpoint", ["endpoint"], registry=own)
        self.by_endpoint = {endpoint: predictions.labels(endpoint) for endpoint in ENDPOINTS}
        predicted = Histogram("yts_predicted_value", "Predicted values in raw units, by target (its _count is the "
                              "predictions per target)", ["target"], buckets=PREDICTED_BUCKETS, registry=own)
        self.predicted = [(output, predicted.labels(target)) for target, output in TARGET_OUTPUTS.items()]
        unknown = Counter("yts_unknown_inputs_total", "Inputs outside the training vocabulary, by input",
                          ["input"], registry=own)
        self.unknown = {name: unknown.labels(name) for name in ("category", "country", "channel_type")}
        by_schema = Counter("yts_predictions_by_schema_total", "Rows predicted, by the input schema whose models "
                            "served them (simulated sweeps included, like yts_predictions_total)", ["input_schema"],
                            registry=own)
        self.by_schema = {schema: by_schema.labels(schema) for schema in INPUT_SCHEMAS}
        # State: set by the store after every refresh (`served`). With several workers, each gauge merges by its mode.
        self.ready = Gauge("yts_model_ready", "1 when the registry's active run is loaded and verified (with several "
                           "workers: in every live worker)", registry=own, multiprocess_mode="livemin")
        self.swaps = Counter("yts_registry_swaps", "Times the served run changed (the first load included; with "
                             "several workers, summed over them)", registry=own)
        self.run_info = Gauge(RUN_INFO, "The run being served (value 1; with several workers, a series per run some "
                              "live worker serves)", ["run_id", "data_sha256", "trained_at"], registry=own,
                              multiprocess_mode="livemax")
        self._served: tuple[str, str, str] | None = None
        self._swaps_seen = 0
        self._capture: CaptureCounters | None = None

    def capture_counters(self) -> CaptureCounters:
        if self._capture is None:
            own = self._own
            self._capture = CaptureCounters(
                written=Counter("yts_capture_written_records", "Payload records written", registry=own),
                dropped=Counter("yts_capture_dropped_records", "Payload records lost: buffer full, write errors, "
                                "files removed before they were closed", registry=own),
                errors=Counter("yts_capture_write_errors", "Payload capture write errors", registry=own))
        return self._capture

    def served(self, store: "ModelStore") -> None:
        """Publish the store's state: readiness, the run it serves, swaps (called after every refresh)."""
        self.ready.set(1 if store.ready else 0)
        run = store.current
        labels = (run.run_id, run.manifest["data"]["data_sha256"], run.manifest.get("created_at", "")) if run else None
        if labels != self._served:
            if self._served is not None:
                self.run_info.labels(*self._served).set(0)  # not served any more: dropped at scrape
            if labels is not None:
                self.run_info.labels(*labels).set(1)
            self._served = labels
        if store.swaps > self._swaps_seen:
            self.swaps.inc(store.swaps - self._swaps_seen)
            self._swaps_seen = store.swaps

    def observe(self, endpoint: str, rows: list[dict[str, Any]], unseen: list[list[str]] | None = None) -> None:
        """Rows of a response (each with its `input_schema`) and the unseen inputs of each."""
        if len(rows) == 1:
            row = rows[0]
            self.by_endpoint[endpoint].inc()
            self.by_schema[row["input_schema"]].inc()
            for output, histogram in self.predicted:
                histogram.observe(row[output])
        else:
            self.by_endpoint[endpoint].inc(len(rows))
            schemas = [row["input_schema"] for row in rows]
            for schema, counter in self.by_schema.items():
                if found := schemas.count(schema):
                    counter.inc(found)
            for output, histogram in self.predicted:
                for row in rows:
                    histogram.observe(row[output])
        for names in unseen or ():
            for name in names:
                self.unknown[name].inc()

    def families(self) -> Iterable[Metric]:
        if self.multiprocess_dir is None:
            return self._own.collect()
        multiprocess.sweep(self.multiprocess_dir)
        return MultiProcessCollector.merge(multiprocess.metric_files(self.multiprocess_dir), accumulate=True)


class TrafficWindow:
    """The last `size` prediction inputs, appended in O(1) per request; drift over them is computed at scrape
    (`ServingCollector`), at most once per new input, against the served run's baseline.

    With `shared_dir` (several workers), each worker publishes its window there every PUBLISH_SECONDS, and the
    window a scrape describes is the newest `size` inputs of all workers (the other workers' as of their last
    publication)."""

    def __init__(self, size: int = TRAFFIC_WINDOW, shared_dir: Path | None = None) -> None:
        self.size = size
        self._records: deque[tuple[float, dict[str, Any]]] = deque(maxlen=size)
        self.added = 0
        self.last_input = 0.0
        self._lock = threading.Lock()
        self._cached: tuple[Any, dict[str, Any] | None, float] | None = None
        self.shared_dir = shared_dir
        self._published = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, records: list[dict[str, Any]]) -> None:
        now = time.time()
        with self._lock:
            if len(records) == 1:
                self._records.append((now, records[0]))
            else:
                self._records.extend((now, record) for record in records)
            self.added += len(records)
            self.last_input = now

    def _own(self) -> tuple[int, list[tuple[float, dict[str, Any]]]]:
        with self._lock:
            return self.added, list(self._records)

    def publish(self) -> None:
        """Write this worker's window for the others (atomically: a reader sees the old file or the new one)."""
        added, records = self._own()
        if added == self._published or self.shared_dir is None:
            return
        target = self.shared_dir / f"{multiprocess.TRAFFIC_PREFIX}{os.getpid()}.json"
        partial = target.with_suffix(".json.tmp")
        partial.write_text(json.dumps(records, separators=(",", ":")), encoding="utf-8")
        os.replace(partial, target)
        self._published = added

    def _others(self) -> tuple[tuple[Any, ...], list[tuple[float, dict[str, Any]]]]:
        if self.shared_dir is None:
            return (), []
        key, records = [], []
        own = f"{multiprocess.TRAFFIC_PREFIX}{os.getpid()}.json"
        for path in sorted(self.shared_dir.glob(f"{multiprocess.TRAFFIC_PREFIX}*.json")):
            if path.name == own:
                continue
            try:
                stat = path.stat()
                published = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # gone between the listing and the read (a worker that exited)
                continue
            key.append((path.name, stat.st_mtime_ns, stat.st_size))
            records += [(moment, record) for moment, record in published]
        return tuple(key), records

    def summary(self, run_id: str, baseline: dict[str, Any]) -> tuple[dict[str, Any] | None, float]:
        """(drift summary of the window or None when it is empty, when its newest input arrived)."""
        added, records = self._own()
        others, more = self._others()
        key = (run_id, added, others)
        if self._cached is None or self._cached[0] != key:
            if more:
                records = sorted(records + more, key=lambda entry: entry[0])[-self.size:]
            summary = drift_report([record for _, record in records], baseline)["summary"] if records else None
            self._cached = (key, summary, records[-1][0] if records else 0.0)
        return self._cached[1], self._cached[2]

    def start(self) -> None:
        """With several workers: publish the window every PUBLISH_SECONDS."""
        if self.shared_dir is None:
            return

        def run() -> None:
            while not self._stop.wait(PUBLISH_SECONDS):
                try:
                    self.publish()
                except OSError as exc:  # the folder removed under a running server: the next tick retries
                    logging.getLogger("yts.serving.metrics").warning("cannot publish the traffic window: %s", exc)

        self._thread = threading.Thread(target=run, name="yts-traffic-publish", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)


class ServingCollector:
    """What /metrics shows besides the process metrics: the metrics' families (every worker's, merged), the
    served runs, and what is derived at scrape: the model's age and traffic drift."""

    def __init__(self, metrics: ServiceMetrics, store: "ModelStore", traffic: TrafficWindow) -> None:
        self.metrics, self.store, self.traffic = metrics, store, traffic

    def collect(self) -> Iterator[Any]:
        trained: list[float] = []
        for family in self.metrics.families():
            if family.name == RUN_INFO:
                family.samples = [sample for sample in family.samples if sample.value > 0]
                for sample in family.samples:
                    try:
                        trained.append(datetime.fromisoformat(sample.labels["trained_at"]).timestamp())
                    except ValueError:
                        pass
            yield family
        if trained:  # the oldest run a live worker serves: what an "old model" alert is about
            oldest = min(trained)
            yield GaugeMetricFamily("yts_model_trained_timestamp_seconds", "When the served run was trained (Unix "
                                    "time; with several workers, the oldest served run)", value=oldest)
            yield GaugeMetricFamily("yts_model_age_seconds", "Seconds since the served run was trained",
                                    value=time.time() - oldest)
        run = self.store.current
        if run is not None:
            yield from self._traffic(run.run_id, run.baseline)

    def _traffic(self, run_id: str, baseline: dict[str, Any]) -> Iterator[Any]:
        summary, last_input = self.traffic.summary(run_id, baseline)
        records = summary["total_records"] if summary else 0
        yield GaugeMetricFamily("yts_traffic_drift_records", f"Inputs in the sliding window (the last {self.traffic.size})"
                                " that the drift gauges describe", value=records)
        if summary is None:
            return
        yield GaugeMetricFamily("yts_traffic_last_input_timestamp_seconds", "When the newest input entered the window "
                                "(Unix time): how old the drift gauges are", value=last_input)
        yield GaugeMetricFamily("yts_traffic_drift_high_severity_share", "Share of high-severity inputs in the window",
                                value=summary["high_severity_share"])
        yield GaugeMetricFamily("yts_traffic_drift_risk", "1 when the window is a drift risk (the drift check's rule)",
                                value=1 if summary["is_drift_risk"] else 0)
        psi = GaugeMetricFamily("yts_traffic_drift_psi", "PSI of each input over the window", labels=["feature"])
        for feature, value in summary["psi"].items():
            psi.add_metric([feature], value)
        yield psi


class Recorder:
    """What an answered prediction leaves behind: its inputs in the traffic window and in payload capture (the
    four contract inputs only, never extended inputs nor unknown fields), its rows in the metrics."""

    def __init__(self, metrics: ServiceMetrics, traffic: TrafficWindow, capture: "PayloadCapture | None") -> None:
        self.metrics, self.traffic, self.capture = metrics, traffic, capture

    def record(self, endpoint: str, run_id: str, inputs: list[dict[str, Any]], rows: list[dict[str, Any]],
               unseen: list[list[str]]) -> None:
        self.traffic.add(inputs)
        if self.capture is not None:
            self.capture.add_inputs(run_id, inputs)
        self.metrics.observe(endpoint, rows, unseen)


log = logging.getLogger("yts.serving.capture")


def capture_line(entry: dict[str, Any] | tuple[float, str, dict[str, Any]]) -> str:
    """One JSON line: a record, or (received, run_id, inputs) as `add_inputs` queued it."""
    if type(entry) is tuple:
        received, run_id, inputs = entry
        stamp = datetime.fromtimestamp(received, timezone.utc).isoformat(timespec="milliseconds")
        entry = {**inputs, "run_id": run_id, "received_at": stamp}
    return json.dumps(entry, separators=(",", ":")) + "\n"


ORPHAN_PART = re.compile(r"\.capture-\d{8}T\d{12}Z-(\d+)\.jsonl\.part")
TAIL_BYTES = 1 << 16


def recover_orphaned_parts(directory: Path) -> list[Path]:
    """Close the batches that capture writers on this host left open when they died (kill -9, OOM): each
    `.capture-*-<pid>.jsonl.part` of a process that no longer exists loses an unfinished last line and becomes the
    `capture-*.jsonl` its writer would have renamed it to, so its records reach the drift sensor. Symlinks and
    anything but regular files are left alone; only the file's tail is read."""
    recovered = []
    for part in directory.glob(".capture-*.jsonl.part") if directory.is_dir() else []:
        match = ORPHAN_PART.fullmatch(part.name)
        if match is None or part.is_symlink() or not part.is_file() or process_alive(int(match.group(1))):
            continue
        with open(part, "rb+") as handle:
            handle.truncate(_end_of_last_line(handle))
        os.replace(part, part.with_name(part.name.removeprefix(".").removesuffix(".part")))
        recovered.append(part)
    return recovered


def _end_of_last_line(handle: Any) -> int:
    """The offset just past the file's last newline (0 without one), read backwards in TAIL_BYTES steps."""
    end = handle.seek(0, os.SEEK_END)
    while end > 0:
        start = max(0, end - TAIL_BYTES)
        handle.seek(start)
        newline = handle.read(end - start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


class PayloadCapture:
    def __init__(self, directory: Path, *, max_buffer: int, rotate_records: int, rotate_seconds: float,
                 flush_seconds: float, counters: CaptureCounters | None = None) -> None:
        self.directory = directory
        self.rotate_records = rotate_records
        self.rotate_seconds = rotate_seconds
        self.flush_seconds = flush_seconds
        self._buffer: deque[dict[str, Any] | tuple[float, str, dict[str, Any]]] = deque()
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
        self.counters = counters  # the same counts as Prometheus metrics (several workers: summed over them)

    def add(self, records: list[Any]) -> int:
        """Queue records; returns how many were dropped because the buffer is full."""
        with self._lock:
            room = max(self._max_buffer - len(self._buffer), 0)
            if len(records) == 1 and room:
                self._buffer.append(records[0])
                dropped = 0
            else:
                self._buffer.extend(records[:room])
                dropped = len(records) - min(room, len(records))
                self.dropped += dropped
        if dropped and self.counters:
            self.counters.dropped.inc(dropped)
        if len(self._buffer) >= self.rotate_records:
            self._wake.set()
        return dropped

    def add_inputs(self, run_id: str, inputs: list[dict[str, Any]]) -> int:
        """Queue inputs received now for `run_id`; the record (`run_id`, `received_at`) is made by the writer."""
        received = time.time()
        return self.add([(received, run_id, record) for record in inputs])

    def _drain(self) -> list[Any]:
        with self._lock:
            records = list(self._buffer)
            self._buffer.clear()
        return records

    def _lose(self, count: int, why: object) -> None:
        """Records that will never reach disk count as dropped, like a full buffer's."""
        with self._lock:
            self.dropped += count
        if self.counters:
            self.counters.dropped.inc(count)
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
            if self.counters:
                self.counters.errors.inc()
            self._lose(len(records), exc)
            self._part = None  # the next flush starts a new file, recreating the folder

    def _write(self, records: list[Any]) -> None:
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
            handle.write("".join(map(capture_line, records)))
        self._part_records += len(records)
        self.written += len(records)
        if self.counters:
            self.counters.written.inc(len(records))

    def _rotate(self) -> None:
        part, self._part = self._part, None
        if part is None:
            return
        if not part.is_file():
            self._lose(self._part_records, f"{part} disappeared before it was closed")
            return
        os.replace(part, part.with_name(part.name.removeprefix(".").removesuffix(".part")))

    def start(self) -> None:
        try:
            for part in recover_orphaned_parts(self.directory):
                log.warning("payload capture: closed %s, left open by a writer that is gone", part.name)
        except OSError as exc:
            log.error("payload capture: could not close batches left open in %s: %s", self.directory, exc)

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
