"""Alerts for people: raised once per event, kept in an outbox, delivered to a webhook with retries.

An alert has a key naming its event (`gate:<run id>`, `run_failed:<run id>`, `drift:<first batch>`);
raising a key that was raised before does nothing, so a sensor that sees the same event twice
alerts once. Every alert is appended to `artifacts/mlops/alerts.jsonl` before any delivery, so
one raised while the webhook is down is delivered by a later flush: every alert sensor tick
flushes the outbox, oldest first, and stops at the first delivery that fails (after its
retries) so a dead webhook costs one timeout per tick. The file is appended to under a lock,
one JSON object per line ("raised", "delivered" or "failed" events); a torn last line is skipped.
The webhook gets Slack-compatible JSON (`text`) with the alert's fields under `yts`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from . import config
from .paths import ProjectPaths

BACKOFF_SECONDS = (0.5, 1.0, 2.0)
MAX_RESPONSE_BYTES = 1 << 16


class AlertConfigError(ValueError):
    """The webhook setting cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Alert:
    key: str
    kind: str  # gate_rejected, run_failed, repeated_drift
    title: str
    text: str
    details: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """Slack-compatible: `text` is what a person reads; `yts` carries the fields for machines."""
        return {"text": f"*{self.title}*\n{self.text}", "yts": asdict(self)}


@dataclass(frozen=True)
class Webhook:
    url: str
    timeout_seconds: float
    attempts: int

    @classmethod
    def from_env(cls) -> Webhook | None:
        url = config.ALERT_WEBHOOK_URL.get()
        if url is None:
            return None
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise AlertConfigError(f"{config.ALERT_WEBHOOK_URL.name}={url!r} is not an http(s) URL")
        return cls(url, config.ALERT_TIMEOUT_SECONDS.get(), max(1, config.ALERT_ATTEMPTS.get()))

    def post(self, alert: Alert, sleep: Callable[[float], None] = time.sleep) -> None:
        """POST the alert; retries with backoff; raises OSError with the last failure."""
        body = json.dumps(alert.payload()).encode()
        last: Exception | None = None
        for attempt in range(self.attempts):
            if attempt:
                sleep(BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)])
            request = urllib.request.Request(self.url, data=body, method="POST",
                                             headers={"Content-Type": "application/json", "User-Agent": "yts-alerts"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310 - http(s) only
                    response.read(MAX_RESPONSE_BYTES)
                return
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = exc
        raise OSError(f"webhook {self.url} failed {self.attempts} times; last: {last}")


def gate_alert(run_id: str, failures: list[dict[str, str]], active_run_id: str | None) -> Alert:
    checks = "; ".join(f"{f['check']}: {f['why']}" for f in failures)
    stays = f"the active run stays {active_run_id}" if active_run_id else "there is no active run"
    return Alert(key=f"gate:{run_id}", kind="gate_rejected",
                 title=f"yts: run {run_id} rejected by the gate",
                 text=f"{len(failures)} blocking check(s) failed: {checks}. Nothing was published; {stays}.",
                 details={"run_id": run_id, "failed_checks": failures, "active_run_id": active_run_id})


def run_failed_alert(run_id: str, job_name: str, reason: str) -> Alert:
    return Alert(key=f"run_failed:{run_id}", kind="run_failed", title=f"yts: {job_name} run {run_id} failed",
                 text=f"{reason[:1500]}. The registry is unchanged; see the run in the Dagster UI.",
                 details={"run_id": run_id, "job": job_name, "reason": reason[:4000]})


def repeated_drift_alert(batches: list[str], summary: dict[str, Any]) -> Alert:
    """`batches`: the streak of consecutive drift-risk batches, as `name:sha256 prefix`, oldest first."""
    names = [batch.rsplit(":", 1)[0] for batch in batches]
    drifted = ", ".join(summary.get("drifted_features", [])) or "none over the PSI threshold"
    return Alert(key=f"drift:{batches[0]}", kind="repeated_drift",
                 title=f"yts: {len(batches)} consecutive payload batches are a drift risk",
                 text=f"batches {', '.join(names)}; the latest has high-severity share "
                      f"{summary.get('high_severity_share')} and drifted features {drifted}. Production inputs no "
                      "longer look like the training data: retraining on current labelled data is required.",
                 details={"batches": names, "latest_summary": {k: summary.get(k) for k in (
                     "total_records", "high_severity_share", "drifted_features", "psi", "batch_severity")}})


def retraining_required_alert(state: dict[str, Any]) -> Alert:
    """Drift without new labelled data: a decision for a person, raised once per active run."""
    return Alert(key=f"retraining_required:{state['since_run_id']}", kind="retraining_required",
                 title=f"yts: retraining required, no new labelled data since run {state['since_run_id']}",
                 text=f"{state['reason']}. Retraining on the same data would change nothing: drop a new snapshot of "
                      "the dataset into data/inbox/ (it is trained on and gated as usual), or decide to keep the "
                      "active run. The registry shows this until another run is activated.",
                 details=dict(state))


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class AlertOutbox:
    """`mlops/alerts.jsonl`: raise once per key, deliver in order, never lose one."""

    def __init__(self, paths: ProjectPaths) -> None:
        self.path = paths.mlops_dir / "alerts.jsonl"
        self.lock_path = paths.mlops_dir / ".alerts.lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _events(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        events = []
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a torn last line from a crash mid-append
        return events

    def _append(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, sort_keys=True).encode() + b"\n"
        with open(self.path, "a+b") as handle:
            if handle.tell() and (handle.seek(-1, os.SEEK_END), handle.read(1))[1] != b"\n":
                line = b"\n" + line  # end a torn last line first, so this event stands on its own
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def state(self) -> dict[str, dict[str, Any]]:
        """key -> {alert, raised_at, delivered_at, failures, last_error}, in the order raised."""
        alerts: dict[str, dict[str, Any]] = {}
        for event in self._events():
            key = event.get("key")
            if event.get("event") == "raised" and key not in alerts:
                alerts[key] = {"alert": Alert(**event["alert"]), "raised_at": event["at"], "delivered_at": None,
                               "failures": 0, "last_error": None}
            elif key in alerts and event.get("event") == "delivered":
                alerts[key]["delivered_at"] = event["at"]
            elif key in alerts and event.get("event") == "failed":
                alerts[key]["failures"] += 1
                alerts[key]["last_error"] = event.get("error")
        return alerts

    def raise_alert(self, alert: Alert) -> bool:
        """Record the alert unless its key was raised before; True when it is new."""
        with self._locked():
            if alert.key in self.state():
                return False
            self._append({"event": "raised", "key": alert.key, "at": utc_now(), "alert": asdict(alert)})
            return True

    def pending(self) -> list[Alert]:
        return [entry["alert"] for entry in self.state().values() if entry["delivered_at"] is None]

    def flush(self, webhook: Webhook | None, sleep: Callable[[float], None] = time.sleep) -> tuple[list[str], str | None]:
        """Deliver pending alerts, oldest first; (keys delivered, the error that stopped the flush)."""
        if webhook is None:
            return [], None
        delivered: list[str] = []
        with self._locked():  # one flusher at a time: no alert is posted twice
            for alert in [e["alert"] for e in self.state().values() if e["delivered_at"] is None]:
                try:
                    webhook.post(alert, sleep)
                except OSError as exc:
                    self._append({"event": "failed", "key": alert.key, "at": utc_now(), "error": str(exc)[:500]})
                    return delivered, str(exc)
                self._append({"event": "delivered", "key": alert.key, "at": utc_now()})
                delivered.append(alert.key)
        return delivered, None


def raise_and_flush(paths: ProjectPaths, alerts: list[Alert], log: Callable[[str], None]) -> list[Alert]:
    """Record the alerts (each logged once, when new), then deliver everything pending. Returns the new ones."""
    outbox = AlertOutbox(paths)
    new = [alert for alert in alerts if outbox.raise_alert(alert)]
    for alert in new:
        log(f"ALERT {alert.kind}: {alert.title}: {alert.text}")
    try:
        webhook = Webhook.from_env()
    except AlertConfigError as exc:
        log(f"alerts are recorded in {outbox.path} but not sent: {exc}")
        return new
    delivered, error = outbox.flush(webhook)
    if error:
        log(f"alert delivery paused ({len(outbox.pending())} pending, retried on the next tick): {error}")
    elif delivered:
        log(f"delivered {len(delivered)} alerts to {webhook.url}")  # type: ignore[union-attr]
    return new
