"""End to end on a real Dagster webserver and daemon: launch training over GraphQL, then drop a
drifted batch and watch the sensor retrain and the registry record the new run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from tests.servers import WebhookReceiver
from yts_assets.core.paths import ProjectPaths
from yts_assets.core.registry import load_registry

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
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
def test_drifted_batch_retrains_through_the_daemon(tmp_path, real_csv):
    with WebhookReceiver() as receiver:
        run_daemon_scenario(tmp_path, real_csv, receiver)


def drifted_records(paths: ProjectPaths, seed: int) -> str:
    rows = pd.read_csv(paths.processed_csv)[["uploads", "age", "category", "country"]].dropna().sample(300, random_state=seed)
    return "".join(json.dumps({**r, "uploads": r["uploads"] * 100}) + "\n" for r in json.loads(rows.to_json(orient="records")))


def run_daemon_scenario(tmp_path: Path, real_csv: Path, receiver: WebhookReceiver) -> None:
    home, root = tmp_path / "dagster_home", tmp_path / "project"
    home.mkdir()
    (root / "data" / "incoming").mkdir(parents=True)
    shutil.copy(REPO / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    paths = ProjectPaths(root=root, artifact_dir=root / "artifacts")
    env = {**os.environ, "DAGSTER_HOME": str(home), "YTS_PROJECT_ROOT": str(root),
           "YTS_ARTIFACT_DIR": str(paths.artifact_dir), "YTS_DATA_PATH": str(real_csv),
           "YTS_DRIFT_SENSOR_INTERVAL": "5", "YTS_ALERT_WEBHOOK_URL": receiver.url}
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
        params = {"selector": {"repositoryLocationName": "yts", "repositoryName": "__repository__",
                               "jobName": "training_job"}, "runConfigData": {}}
        launched = graphql(port, LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        first_run = launched["run"]["runId"]
        assert wait_for(lambda: finished(port, first_run), 300, "the launched training run") == "SUCCESS"
        assert load_registry(paths)["active_run_id"] == first_run

        (paths.incoming_dir / "drifted-batch.jsonl").write_text(drifted_records(paths, 1))

        def retrain_done() -> dict | None:
            runs = graphql(port, RUNS_BY_TAG, {"key": "yts/trigger", "value": "drift"})["runsOrError"]["results"]
            done = [r for r in runs if r["status"] in {"SUCCESS", "FAILURE", "CANCELED"}]
            return done[0] if done else None

        retrain = wait_for(retrain_done, 300, "the sensor's retraining run", interval=2)
        assert retrain["jobName"] == "training_job" and retrain["status"] == "SUCCESS"
        registry = load_registry(paths)
        assert [r["run_id"] for r in registry["runs"]] == [first_run, retrain["runId"]]
        # the same data, config and code: the retrain is recorded, but publishes nothing new
        assert registry["runs"][1]["status"] == "unchanged" and registry["active_run_id"] == first_run
        drift_runs = graphql(port, RUNS_BY_TAG, {"key": "yts/batch", "value": "drifted-batch.jsonl"})["runsOrError"]["results"]
        assert {r["jobName"] for r in drift_runs} == {"drift_job", "training_job"}

        # two more drifted batches in a row: the third consecutive one raises one repeated-drift alert
        assert receiver.received == []
        for seed in (2, 3):
            (paths.incoming_dir / f"drifted-batch-{seed}.jsonl").write_text(drifted_records(paths, seed))
            time.sleep(6)  # one sensor interval: each is its own batch
        wait_for(lambda: receiver.received, 120, "the repeated-drift alert at the webhook", interval=1)
        time.sleep(12)  # two more sensor ticks: still one
        assert receiver.kinds() == ["repeated_drift"]
        assert receiver.received[0]["yts"]["details"]["batches"] == [
            "drifted-batch.jsonl", "drifted-batch-2.jsonl", "drifted-batch-3.jsonl"]
    finally:
        for process in processes:
            stop(process)
    assert all(p.poll() is not None for p in processes)
