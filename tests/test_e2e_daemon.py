"""End to end on a real Dagster webserver and daemon, with a real uvicorn yts and a webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.servers import WebhookReceiver, call, uvicorn_yts
from yts_assets.core.files import sha256_file
from yts_assets.core.paths import ProjectPaths
from yts_assets.core.registry import load_registry

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ITEM = {"uploads": 1200, "category": "Music", "country": "India", "age": 9}
LAUNCH = """mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
LOCATIONS = """query { workspaceOrError { ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
RUN_STATUS = "query Status($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
RUNS_BY_JOB = """query Jobs($job: String!) {
  runsOrError(filter: {pipelineName: $job}) { ... on Runs { results { runId status } } }
}"""
SENSOR_TICKS = """query Ticks($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  ... on Sensor { sensorState { ticks(limit: 10) { status timestamp } } } } }"""
RUNS_BY_TAG = """query Runs($key: String!, $value: String!) {
  runsOrError(filter: {tags: [{key: $key, value: $value}]}) { ... on Runs { results { runId status jobName } } }
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str, variables: dict) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", method="POST",
                                     data=json.dumps({"query": query, "variables": variables}).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


def wait_for(condition, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def code_location_loaded(port: int, name: str = "yts") -> bool:
    """True once the location has loaded; a load error fails at once with Dagster's message."""
    entries = graphql(port, LOCATIONS, {})["workspaceOrError"]["locationEntries"]
    entry = next((e for e in entries if e["name"] == name), None)
    if entry is None or entry["loadStatus"] != "LOADED":
        return False
    loaded = entry["locationOrLoadError"]
    assert loaded["__typename"] == "RepositoryLocation", loaded.get("message", loaded)
    return True


def run_status(port: int, run_id: str) -> str | None:
    return graphql(port, RUN_STATUS, {"id": run_id})["runOrError"].get("status")


def finished(port: int, run_id: str) -> str | None:
    status = run_status(port, run_id)
    return status if status in {"SUCCESS", "FAILURE", "CANCELED"} else None


@pytest.mark.slow
def test_new_data_trains_and_drift_without_it_asks_a_person(tmp_path, real_csv):
    with WebhookReceiver() as receiver:
        run_daemon_scenario(tmp_path, real_csv, receiver)


def drifted_records(paths: ProjectPaths, seed: int) -> str:
    rows = pd.read_csv(paths.processed_csv)[["uploads", "age", "category", "country"]].dropna().sample(300, random_state=seed)
    return "".join(json.dumps({**r, "uploads": r["uploads"] * 100}) + "\n" for r in json.loads(rows.to_json(orient="records")))


def ticks_since(port: int, sensor: str, since: float) -> int:
    """Evaluations of `sensor` that started after `since` (epoch seconds) and finished."""
    selector = {"repositoryLocationName": "yts", "repositoryName": "__repository__", "sensorName": sensor}
    ticks = graphql(port, SENSOR_TICKS, {"selector": selector})["sensorOrError"]["sensorState"]["ticks"]
    return sum(1 for t in ticks if t["timestamp"] > since and t["status"] in {"SUCCESS", "SKIPPED", "FAILURE"})


def runs_tagged(port: int, key: str, value: str) -> list[dict]:
    return graphql(port, RUNS_BY_TAG, {"key": key, "value": value})["runsOrError"]["results"]


def run_daemon_scenario(tmp_path: Path, real_csv: Path, receiver: WebhookReceiver) -> None:
    """The loop, through a real webserver and daemon: the first data version is trained by new_data_sensor; drift on
    the same data raises 'retraining required' and alerts, and trains nothing; a new snapshot dropped into the
    inbox is trained once, passes the gates, is promoted, and the API swaps to it."""
    home, root = tmp_path / "dagster_home", tmp_path / "project"
    home.mkdir()
    (root / "data" / "incoming").mkdir(parents=True)
    instance = yaml.safe_load((REPO / "deploy" / "dagster.local.yaml").read_text())
    instance["run_queue"]["dequeue_interval_seconds"] = 1  # Dagster's default is 5: a queued run waits up to 5 s
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
    paths = ProjectPaths(root=root, artifact_dir=root / "artifacts")
    # Dagster's sensor daemon evaluates every 5 s at most; a 5 s minimum interval is just missed every other pass
    # (ticks 10 s apart), a 1 s one never is.
    env = {**os.environ, "DAGSTER_HOME": str(home), "YTS_PROJECT_ROOT": str(root),
           "YTS_ARTIFACT_DIR": str(paths.artifact_dir), "YTS_DATA_PATH": str(real_csv),
           "YTS_DRIFT_SENSOR_INTERVAL": "1", "YTS_ALERT_WEBHOOK_URL": receiver.url}
    port = free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    # Create the instance's storage once: a webserver and a daemon that both find it missing race to migrate it.
    subprocess.run([str(BIN / "dagster"), "instance", "migrate"], cwd=REPO, env=env, check=True, capture_output=True,
                   timeout=120)
    processes = [
        subprocess.Popen([str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
                         cwd=REPO, env=env, start_new_session=True,
                         stdout=open(logs / "webserver.log", "w"), stderr=subprocess.STDOUT),
        subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                         cwd=REPO, env=env, start_new_session=True,
                         stdout=open(logs / "daemon.log", "w"), stderr=subprocess.STDOUT),
    ]
    try:
        def webserver_up() -> bool:
            assert all(p.poll() is None for p in processes), (logs / "webserver.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(webserver_up, 120, "the webserver")
        wait_for(lambda: code_location_loaded(port), 120, "the yts code location to load")

        def trained_on(version: str) -> dict | None:
            runs = runs_tagged(port, "yts/data_sha256", version)
            done = [r for r in runs if r["status"] in {"SUCCESS", "FAILURE", "CANCELED"}]
            return done[0] if done else None

        first = wait_for(lambda: trained_on(sha256_file(real_csv)), 300, "new_data_sensor's first training run", 0.5)
        assert first["status"] == "SUCCESS" and load_registry(paths)["active_run_id"] == first["runId"]

        with uvicorn_yts(ProjectPaths(root=root, artifact_dir=paths.artifact_dir), YTS_REGISTRY_POLL_SECONDS="0.5",
                         YTS_CAPTURE_ENABLED="false") as api:
            assert call(api, "POST", "/predict", ITEM)[1]["run_id"] == first["runId"]

            for seed in (1, 2, 3):  # drift on the data the active run was trained on: three batches (a streak
                # across ticks is tests/test_alerts.py's)
                (paths.incoming_dir / f"drifted-{seed}.jsonl").write_text(drifted_records(paths, seed))
            wait_for(lambda: len(receiver.received) >= 2, 120, "the drift alerts at the webhook", interval=0.5)
            alerted = time.time()
            wait_for(lambda: ticks_since(port, "incoming_drift_sensor", alerted), 60, "another drift sensor tick",
                     interval=0.5)  # that found nothing more to say
            assert sorted(receiver.kinds()) == ["repeated_drift", "retraining_required"]
            required = load_registry(paths)["retraining_required"]
            assert required["since_run_id"] == first["runId"] and len(required["batches"]) == 3
            assert runs_tagged(port, "yts/trigger", "drift") == []  # retraining on the same data changes nothing
            assert call(api, "GET", "/mlops/registry")[1]["retraining_required"]["since_run_id"] == first["runId"]

            snapshot = root / "data" / "inbox" / "snapshot-2024.csv"
            snapshot.parent.mkdir(parents=True)
            frame = pd.read_csv(real_csv, encoding="latin-1")
            frame.loc[0, "subscribers"] += 1_000_000
            frame.to_csv(snapshot.with_suffix(".part"), index=False, encoding="latin-1")
            snapshot.with_suffix(".part").rename(snapshot)  # a complete file appears at once
            second = wait_for(lambda: trained_on(sha256_file(snapshot)), 300, "the new snapshot's training run", 0.5)
            assert second["status"] == "SUCCESS"
            assert [r["runId"] for r in runs_tagged(port, "yts/data_sha256", sha256_file(snapshot))] == [second["runId"]]
            registry = load_registry(paths)
            assert registry["active_run_id"] == second["runId"] and registry["retraining_required"] is None
            wait_for(lambda: call(api, "POST", "/predict", ITEM)[1]["run_id"] == second["runId"], 30,
                     "the API to swap to the new run", interval=0.5)
            swapped = time.time()
            wait_for(lambda: ticks_since(port, "new_data_sensor", swapped), 60, "another new-data sensor tick",
                     interval=0.5)  # an unchanged file never triggers another run
            assert len(graphql(port, RUNS_BY_JOB, {"job": "training_job"})["runsOrError"]["results"]) == 2
    finally:
        for process in processes:
            stop(process)
    assert all(p.poll() is not None for p in processes)
