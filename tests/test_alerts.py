"""Alerts: the outbox and webhook against a real HTTP receiver on 127.0.0.1, and the Dagster sensors that raise
them (gate rejections, failed training runs, repeated drift) evaluated against real runs."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from dagster import DagsterInstance, build_run_status_sensor_context, build_sensor_context

from tests.conftest import run_graph
from tests.servers import WebhookReceiver
from tests.test_gates import corrupt
from yts_assets.core.alerts import Alert, AlertConfigError, AlertOutbox, Webhook, raise_and_flush
from yts_assets.core.paths import ProjectPaths
from yts_assets.core.registry import load_registry
from yts_assets.definitions import build_definitions
from yts_assets.defs.alerting import training_failure_alerts
from yts_assets.defs.registry.gate import BlockingChecks
from yts_assets.resources import GatePolicyResource, YtsSettings

NO_WAIT = lambda seconds: None  # noqa: E731 - the retries' backoff, skipped in tests


def alert(key: str = "gate:run-1") -> Alert:
    return Alert(key=key, kind="gate_rejected", title="yts: run run-1 rejected", text="check x failed", details={})


@pytest.fixture
def receiver(monkeypatch):
    with WebhookReceiver() as server:
        monkeypatch.setenv("YTS_ALERT_WEBHOOK_URL", server.url)
        monkeypatch.setenv("YTS_ALERT_TIMEOUT_SECONDS", "2")
        yield server


def test_an_alert_is_delivered_once_as_slack_compatible_json(project: ProjectPaths, receiver):
    logged: list[str] = []
    assert raise_and_flush(project, [alert()], logged.append) == [alert()]
    assert raise_and_flush(project, [alert()], logged.append) == []  # the same event again: nothing new
    [body] = receiver.received
    assert body["text"] == "*yts: run run-1 rejected*\ncheck x failed"
    assert body["yts"]["key"] == "gate:run-1" and body["yts"]["kind"] == "gate_rejected"
    assert sum("ALERT gate_rejected" in line for line in logged) == 1
    assert AlertOutbox(project).pending() == []


def test_an_alert_survives_a_webhook_that_is_down(project: ProjectPaths, receiver):
    receiver.down = True
    outbox = AlertOutbox(project)
    outbox.raise_alert(alert("gate:a"))
    outbox.raise_alert(alert("gate:b"))
    delivered, error = outbox.flush(Webhook.from_env(), NO_WAIT)
    assert delivered == [] and "failed 3 times" in error and "503" in error
    assert [a.key for a in outbox.pending()] == ["gate:a", "gate:b"]  # stopped at the first failure, lost nothing
    receiver.down = False
    assert outbox.flush(Webhook.from_env(), NO_WAIT) == (["gate:a", "gate:b"], None)
    assert outbox.flush(Webhook.from_env(), NO_WAIT) == ([], None)
    assert [b["yts"]["key"] for b in receiver.received] == ["gate:a", "gate:b"]
    assert outbox.state()["gate:a"]["failures"] == 1


def test_an_unreachable_webhook_times_out_and_retries(project: ProjectPaths, monkeypatch):
    monkeypatch.setenv("YTS_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/alerts")  # nothing listens on the discard port
    monkeypatch.setenv("YTS_ALERT_ATTEMPTS", "2")
    waits: list[float] = []
    outbox = AlertOutbox(project)
    outbox.raise_alert(alert())
    delivered, error = outbox.flush(Webhook.from_env(), waits.append)
    assert delivered == [] and "failed 2 times" in error and waits == [0.5]


def test_a_torn_outbox_line_is_skipped(project: ProjectPaths):
    outbox = AlertOutbox(project)
    outbox.raise_alert(alert("gate:a"))
    with open(outbox.path, "a") as handle:
        handle.write('{"event": "raised", "key": "gate:b", "al')  # a crash mid-append
    assert [a.key for a in outbox.pending()] == ["gate:a"]
    assert outbox.raise_alert(alert("gate:c"))
    assert [a.key for a in outbox.pending()] == ["gate:a", "gate:c"]


@pytest.mark.parametrize("url", ["ftp://example.org/x", "not a url", "file:///etc/passwd"])
def test_a_webhook_that_is_not_http_is_refused_by_name(monkeypatch, url):
    monkeypatch.setenv("YTS_ALERT_WEBHOOK_URL", url)
    with pytest.raises(AlertConfigError, match="YTS_ALERT_WEBHOOK_URL=.* is not an http"):
        Webhook.from_env()


DEFINITIONS = build_definitions()
CHECK_SENSOR = DEFINITIONS.resolve_sensor_def("blocking_check_alerts")


def check_sensor_tick(instance: DagsterInstance, cursor: str | None = None) -> str | None:
    resources = {"settings": YtsSettings(), "blocking_checks": BlockingChecks.of(DEFINITIONS)}
    with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        CHECK_SENSOR(context)
        return context.cursor


@pytest.mark.parametrize("with_active_run", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_a_corrupted_csv_raises_one_gate_alert_naming_the_check(project: ProjectPaths, receiver, monkeypatch,
                                                                  tmp_path, with_active_run, request):
    good = request.getfixturevalue("first_run") if with_active_run else None  # a published run's id, or none
    with DagsterInstance.ephemeral() as instance:  # its own event log: only this test's runs
        monkeypatch.setenv("YTS_DATA_PATH", str(corrupt("negative_values", tmp_path / "bad.csv")))
        bad = run_graph(instance)
        assert not bad.success
        cursor = check_sensor_tick(instance)
        check_sensor_tick(instance, cursor)
        check_sensor_tick(instance)  # even from scratch, the outbox remembers
        [body] = receiver.received
        assert body["yts"]["kind"] == "gate_rejected" and body["yts"]["details"]["run_id"] == bad.run_id
        assert "processed_channels:non_negative_values: " in body["text"]
        stays = f"the active run stays {good}" if good else "there is no active run"
        assert stays in body["text"] and load_registry(project)["active_run_id"] == good
        logs = [r.event_log_entry.dagster_event.message for r in instance.get_records_for_run(bad.run_id).records
                if r.event_log_entry.dagster_event is not None]
        assert any((m or "").startswith("ALERT gate_rejected") for m in logs), logs[-3:]  # in the run's event log

        # the run-failure sensor leaves a gate rejection to the gate alert
        failure = build_run_status_sensor_context("training_failure_alerts", bad.get_run_failure_event(), instance,
                                                  bad.dagster_run, resources={"settings": YtsSettings()})
        training_failure_alerts(failure.for_run_failure())
        assert len(receiver.received) == 1


def test_a_failed_training_run_raises_one_run_alert(project: ProjectPaths, receiver):
    with DagsterInstance.ephemeral() as instance:
        failed = run_graph(instance, run_config={"ops": {"supervised_bundle": {"config": {"cv_folds": 1}}}})
        assert not failed.success
        for _ in range(2):
            context = build_run_status_sensor_context("training_failure_alerts", failed.get_run_failure_event(),
                                                      instance, failed.dagster_run,
                                                      resources={"settings": YtsSettings()})
            training_failure_alerts(context.for_run_failure())
        [body] = receiver.received
        assert body["yts"]["kind"] == "run_failed" and body["yts"]["details"]["run_id"] == failed.run_id
        assert "supervised_bundle" in body["text"]


def drifted_batch(paths: ProjectPaths, name: str, seed: int, factor: float) -> None:
    rows = pd.read_csv(paths.processed_csv)[["uploads", "age", "category", "country"]].dropna()
    records = json.loads(rows.sample(300, random_state=seed).to_json(orient="records"))
    paths.incoming_dir.mkdir(parents=True, exist_ok=True)
    (paths.incoming_dir / name).write_text("".join(json.dumps({**r, "uploads": r["uploads"] * factor}) + "\n"
                                                   for r in records))


@pytest.mark.slow  # the daemon end-to-end test drops three drifted batches too
def test_repeated_drift_raises_one_alert_per_streak(project: ProjectPaths, first_run, receiver, monkeypatch):
    with DagsterInstance.ephemeral() as instance:
        sensor = DEFINITIONS.resolve_sensor_def("incoming_drift_sensor")
        cursor = None

        def tick(name: str, seed: int, factor: float) -> None:
            nonlocal cursor
            drifted_batch(project, name, seed, factor)
            resources = {"settings": YtsSettings(), "gate_policy": GatePolicyResource()}
            with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
                sensor(context)
                cursor = context.cursor

        def drift_alerts() -> list[dict]:  # the first drifted batch also raises "retraining required", once
            return [body for body in receiver.received if body["yts"]["kind"] == "repeated_drift"]

        for index in range(4):  # the third in a row alerts, the fourth belongs to the same streak
            tick(f"b{index}.jsonl", index, 100.0)
            assert len(drift_alerts()) == (1 if index >= 2 else 0)
        [body] = drift_alerts()
        assert body["yts"]["details"]["batches"] == ["b0.jsonl", "b1.jsonl", "b2.jsonl"]
        tick("c0.jsonl", 10, 1.0)  # a calm batch ends the streak
        for index in range(3):
            tick(f"d{index}.jsonl", 20 + index, 100.0)
        assert receiver.kinds() == ["retraining_required", "repeated_drift", "repeated_drift"]
        assert drift_alerts()[1]["yts"]["details"]["batches"] == ["d0.jsonl", "d1.jsonl", "d2.jsonl"]
