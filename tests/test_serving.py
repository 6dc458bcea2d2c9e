"""The API against real published runs: TestClient for contracts, a real uvicorn process for the rest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.config import ServingConfig
from tests.servers import call, uvicorn_yts, wait_for
from yts_assets.core.paths import ProjectPaths
from yts_assets.core.registry import load_registry, rollback

REPO = Path(__file__).resolve().parents[1]
ITEM = {"uploads": 1200, "category": "Music", "country": "India", "age": 9}
TOKEN = "s3cret-token"


@pytest.fixture
def paths(trained, tmp_path) -> ProjectPaths:
    """A private copy of the trained project, so a test may tamper with it."""
    shutil.copytree(trained["root"], tmp_path / "project")
    return ProjectPaths(root=tmp_path / "project", artifact_dir=tmp_path / "project" / "artifacts")


def make_config(paths: ProjectPaths, **overrides) -> ServingConfig:
    options = {"admin_token": TOKEN, "registry_poll_seconds": 0.05, "capture_flush_seconds": 0.05,
               "capture_dir": paths.root / "incoming", **overrides}
    return ServingConfig(paths=paths, **options)


@pytest.fixture
def client(paths):
    with TestClient(create_app(make_config(paths))) as test_client:
        yield test_client


def tamper(paths: ProjectPaths, run_id: str, name: str = "supervised_bundle.joblib") -> None:
    target = paths.published_runs_dir / run_id / name
    target.chmod(0o644)
    target.write_bytes(target.read_bytes() + b"tampered")


def set_active_by_hand(paths: ProjectPaths, run_id: str) -> None:
    registry = json.loads(paths.model_registry.read_text())
    registry["active_run_id"] = run_id
    paths.model_registry.write_text(json.dumps(registry))


def test_not_ready_before_any_artifacts_exist(tmp_path):
    empty = ProjectPaths(root=tmp_path, artifact_dir=tmp_path / "artifacts")
    with TestClient(create_app(make_config(empty))) as client:
        assert client.get("/health").json() == {"status": "ok", "run_id": None}
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "no active run" in ready.json()["problems"][0]
        assert client.post("/predict", json=ITEM).status_code == 503
        assert client.get("/clusters/summary").status_code == 503


def test_predict_contract(client, trained):
    assert client.get("/ready").json() == {"ready": True, "active_run_id": trained["b"],
                                            "serving_run_id": trained["b"], "problems": []}
    body = client.post("/predict", json=ITEM).json()
    assert set(body) == {"predicted_subscribers", "predicted_earnings", "predicted_growth", "warnings", "run_id",
                         "input_schema", "intervals"}
    assert body["run_id"] == trained["b"] and body["warnings"] == [] and body["input_schema"] == "contract"
    assert all(body[k] > 0 for k in ("predicted_subscribers", "predicted_earnings", "predicted_growth"))


def test_categories_match_case_insensitively_and_unknowns_warn(client):
    canonical = client.post("/predict", json=ITEM).json()
    shouted = client.post("/predict", json={**ITEM, "category": " MUSIC ", "country": "india"}).json()
    assert shouted["warnings"] == [] and shouted["predicted_earnings"] == canonical["predicted_earnings"]
    unknown = client.post("/predict", json={**ITEM, "category": "Knitting", "country": "Narnia"})
    assert unknown.status_code == 200
    assert unknown.json()["warnings"] == [
        "category 'Knitting' is not in the training vocabulary; the model treats it as unknown",
        "country 'Narnia' is not in the training vocabulary; the model treats it as unknown"]


def test_batch_contract(client, trained):
    items = [ITEM, {**ITEM, "uploads": 50}, {**ITEM, "country": "Narnia"}]
    body = client.post("/predict/batch", json={"items": items}).json()
    assert body["run_id"] == trained["b"] and len(body["records"]) == 3
    single = client.post("/predict", json=ITEM).json()
    assert body["records"][0]["predicted_growth"] == single["predicted_growth"]
    assert body["summary"]["count"] == 3 and body["summary"]["with_warnings"] == 1
    mean = sum(p["predicted_earnings"] for p in body["records"]) / 3
    assert body["summary"]["avg_predicted_earnings"] == pytest.approx(mean)


def test_simulate_contract(client):
    body = client.post("/predict/simulate", json={"category": "Music", "country": "India", "age": 9,
                                                  "uploads_min": 10, "uploads_max": 10000, "points": 5,
                                                  "scale": "log"}).json()
    uploads = [p["uploads"] for p in body["points"]]
    grid = np.expm1(np.linspace(np.log1p(10), np.log1p(10000), 5))  # evenly spaced in log1p, rounded
    assert uploads == [round(u) for u in grid] and uploads[2] == 331
    assert body["input"] == {"category": "Music", "country": "India", "age": 9, "uploads_min": 10,
                             "uploads_max": 10000, "points": 5, "scale": "log"}
    best = max(body["points"], key=lambda p: p["predicted_growth"])["uploads"]
    assert body["best_uploads_by_growth"] == best
    point = client.post("/predict", json={**ITEM, "uploads": uploads[-1]}).json()
    assert body["points"][-1]["predicted_earnings"] == pytest.approx(point["predicted_earnings"])


def test_recommendation_contract(client):
    body = client.post("/predict/recommendation", json=ITEM).json()
    archetypes = client.get("/clusters/summary").json()["archetypes"]
    assert body["archetype"] == body["cluster"]["archetype"] == archetypes[body["cluster"]["cluster_id"]]
    assert body["prediction"] == {k: body[k] for k in ("predicted_subscribers", "predicted_earnings", "predicted_growth")}
    growth = body["prediction"]["predicted_growth"]
    assert body["risk_level"] == ("high" if growth < 20_000 else "medium" if growth < 120_000 else "low")
    assert body["recommendations"]
    odd = client.post("/predict/recommendation", json={**ITEM, "uploads": 1_900_000, "country": "Narnia"}).json()
    assert odd["drift_severity"] == "high" and any("unusual" in r for r in odd["recommendations"])


def test_feature_importance_clusters_manifest_registry(client, trained):
    importance = client.get("/predict/feature-importance", params={"target": "growth", "top_n": 2}).json()
    assert importance["target"] == "growth" and len(importance["records"]) == 2
    assert importance["records"][0]["importance"] >= importance["records"][1]["importance"]
    default = client.get("/predict/feature-importance").json()
    assert default["target"] == "subscribers" and len(default["records"]) == 4  # top_n 15, four inputs
    assert client.get("/predict/feature-importance", params={"target": "views"}).status_code == 422
    assert client.get("/predict/feature-importance", params={"top_n": 0}).status_code == 422
    clusters = client.get("/clusters/summary").json()
    assert len(clusters["profiles"]) == 4 and "growth_handling" in clusters
    assert client.get("/mlops/manifest").json()["run_id"] == trained["b"]
    registry = client.get("/mlops/registry").json()
    assert registry["active_run_id"] == registry["serving_run_id"] == trained["b"]


def test_drift_check_uses_the_shared_logic(client):
    items = [ITEM] * 10 + [{**ITEM, "uploads": 1_900_000, "country": "Narnia"}]
    body = client.post("/mlops/drift-check", json={"items": items, "z_threshold": 3, "min_category_frequency": 0.01}).json()
    assert body["summary"]["total_records"] == 11 and body["records"][-1]["severity"] == "high"
    assert body["summary"]["high_severity_records"] == 1 and body["records"][-1]["warnings"]
    assert body["records"][0]["severity"] == "low"
    strict = client.post("/mlops/drift-check", json={"items": [ITEM], "min_category_frequency": 0.99}).json()
    assert strict["records"][0]["severity"] == "high"


@pytest.mark.slow
def test_capabilities_and_metrics(client):
    capabilities = client.get("/mlops/capabilities").json()
    assert capabilities["installed"]["dagster"] and capabilities["installed"]["optuna"]
    assert capabilities["definitions"]["loads"] is True and "training_job" in capabilities["definitions"]["jobs"]
    assert "incoming_drift_sensor" in capabilities["definitions"]["sensors"]
    assert capabilities["definitions"]["schedules"] == ["backup_schedule", "retraining_schedule"]
    assert capabilities["enabled"]["admin_api"] is True and capabilities["model"]["ready"] is True
    monitoring = capabilities["monitoring"]
    assert monitoring["dagster_alert_sensors_present"] is True and monitoring["alert_webhook_configured"] is False
    for key, path in (("prometheus_config_present", "deploy/monitoring/prometheus/prometheus.yml"),
                      ("prometheus_alert_rules_present", "deploy/monitoring/prometheus/yts-alerts.yml"),
                      ("alertmanager_config_present", "deploy/monitoring/alertmanager/alertmanager.yml")):
        assert monitoring[key] is (REPO / path).is_file() is True, key  # answered for the checkout being served
    client.post("/predict", json=ITEM)
    client.get("/no/such/path/probe-xyz")  # letters: a number could turn up in any metric value
    text = client.get("/metrics").text
    assert 'http_requests_total{method="POST",path="/predict",status="200"}' in text
    assert 'path="unmatched"' in text and "probe-xyz" not in text
    assert "yts_model_ready 1.0" in text


def scrape(client) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(client.get("/metrics").text) for sample in family.samples}


def test_metrics_tell_the_ml_story(client, trained):
    before = scrape(client)
    assert before[("yts_serving_run_info", (("data_sha256", client.get("/mlops/manifest").json()["data_sha256"]),
                                            ("run_id", trained["b"]),
                                            ("trained_at", client.get("/mlops/manifest").json()["created_at"])))] == 1
    assert before[("yts_model_ready", ())] == 1 and before[("yts_registry_swaps_total", ())] == 1
    assert 0 < before[("yts_model_age_seconds", ())] < 3600
    assert ("yts_traffic_drift_risk", ()) not in before  # no traffic yet
    client.post("/predict", json=ITEM)
    client.post("/predict", json={**ITEM, "country": "Narnia"})
    client.post("/predict/batch", json={"items": [ITEM] * 5})
    client.post("/predict/simulate", json={"category": "Music", "country": "India", "age": 9, "start_uploads": 0,
                                           "end_uploads": 100, "step": 10})
    after = scrape(client)
    assert after[("yts_predictions_total", (("endpoint", "predict"),))] == 2
    assert after[("yts_predictions_total", (("endpoint", "batch"),))] == 5
    assert after[("yts_predictions_total", (("endpoint", "simulate"),))] == 11
    for target in ("subscribers", "earnings", "growth"):  # simulated sweeps are not traffic
        assert after[("yts_predicted_value_count", (("target", target),))] == 7
    assert after[("yts_unknown_inputs_total", (("input", "country"),))] == 1
    assert after[("yts_unknown_inputs_total", (("input", "category"),))] == 0
    assert after[("yts_traffic_drift_records", ())] == 7
    assert after[("yts_traffic_drift_psi", (("feature", "uploads"),))] > 0
    assert after[("yts_traffic_drift_risk", ())] in (0, 1)
    assert after[("yts_capture_written_records_total", ())] >= 0
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post("/mlops/registry/rollback", json={"reason": "metrics"}, headers=auth).status_code == 200
    swapped = scrape(client)
    assert swapped[("yts_registry_swaps_total", ())] == 2
    assert any(name == "yts_serving_run_info" and dict(labels)["run_id"] == trained["a"] for name, labels in swapped)


@pytest.mark.parametrize(("body", "field"), [
    ({"category": "Music", "country": "India", "age": 9}, "uploads"),
    ({**ITEM, "category": ""}, "category"),
    ({**ITEM, "country": "   "}, "country"),
    ({**ITEM, "uploads": -1}, "uploads"),
    ({**ITEM, "uploads": "many"}, "uploads"),
    ({**ITEM, "age": 500}, "age"),
    ({**ITEM, "uploads": 12.5}, "uploads"),
    ({**ITEM, "uploads": 2_000_001}, "uploads"),
    ({**ITEM, "age": 3.5}, "age"),
])
def test_bad_predict_input_names_the_field(client, body, field):
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert field in {str(part) for error in response.json()["detail"] for part in error["loc"]}


@pytest.mark.parametrize(("path", "body", "needle"), [
    ("/predict/batch", {"items": []}, "items"),
    ("/predict/batch", {"items": [ITEM] * 501}, "items"),
    ("/predict/simulate", {"category": "Music", "country": "India", "age": 9, "uploads_min": 0, "uploads_max": 10,
                           "points": 201}, "points"),
    ("/predict/simulate", {"category": "Music", "country": "India", "age": 9, "uploads_min": 10, "uploads_max": 1},
     "uploads_max"),
    ("/mlops/drift-check", {"items": [ITEM], "z_threshold": 0}, "z_threshold"),
])
def test_bad_sizes_and_ranges_are_refused(client, path, body, needle):
    response = client.post(path, json=body)
    assert response.status_code == 422 and needle in response.text


def test_admin_token(paths, trained):
    with TestClient(create_app(make_config(paths, admin_token=None))) as disabled:
        response = disabled.post("/mlops/registry/rollback", json={"reason": "x"},
                                 headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 403 and "YTS_ADMIN_TOKEN" in response.text
    with TestClient(create_app(make_config(paths))) as client:
        assert client.post("/mlops/registry/rollback", json={"reason": "x"}).status_code == 401
        assert client.post("/mlops/registry/rollback", json={"reason": "x"},
                           headers={"Authorization": "Bearer wrong"}).status_code == 401
        unknown = client.post("/mlops/registry/promote", json={"run_id": "nope", "reason": "x"},
                              headers={"Authorization": f"Bearer {TOKEN}"})
        assert unknown.status_code == 409 and "unknown run 'nope'" in unknown.text
    assert load_registry(paths)["active_run_id"] == trained["b"]


def test_hot_swap_after_rollback_and_promote_through_the_api(client, paths, trained):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    rolled = client.post("/mlops/registry/rollback", json={"reason": "regression"}, headers=auth).json()
    assert rolled == {"active_run_id": trained["a"], "serving_run_id": trained["a"]}
    assert client.post("/predict", json=ITEM).json()["run_id"] == trained["a"]
    promoted = client.post("/mlops/registry/promote", json={"run_id": trained["b"], "reason": "fixed"}, headers=auth)
    assert promoted.json()["serving_run_id"] == trained["b"]
    assert client.post("/predict", json=ITEM).json()["run_id"] == trained["b"]
    audit = [json.loads(line) for line in paths.registry_audit.read_text().splitlines()]
    assert [a["action"] for a in audit[-2:]] == ["rollback", "promote"]
    assert audit[-1]["actor"].startswith("api:")


def test_hot_swap_when_the_registry_changes_on_disk(client, paths, trained):
    rollback(paths, reason="from the CLI", actor="pytest")
    wait_for(lambda: client.post("/predict", json=ITEM).json()["run_id"] == trained["a"])
    assert client.get("/ready").status_code == 200


def test_tampered_active_run_is_never_loaded(paths, trained):
    tamper(paths, trained["b"])
    with TestClient(create_app(make_config(paths))) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "supervised_bundle: " in ready.json()["problems"][0] and "sha256" in ready.json()["problems"][0]
        assert client.post("/predict", json=ITEM).status_code == 503


def test_tampered_new_run_keeps_the_previous_one_serving(client, paths, trained):
    tamper(paths, trained["a"], "clustering_bundle.joblib")
    set_active_by_hand(paths, trained["a"])
    wait_for(lambda: client.get("/ready").status_code == 503)
    problems = client.get("/ready").json()["problems"][0]
    assert f"still serving {trained['b']}" in problems and "clustering_bundle" in problems
    assert client.post("/predict", json=ITEM).json()["run_id"] == trained["b"]


def test_payload_capture_writes_complete_jsonl_batches(paths, trained):
    with TestClient(create_app(make_config(paths, capture_rotate_records=3))) as client:
        for uploads in range(5):
            assert client.post("/predict", json={**ITEM, "uploads": uploads}).status_code == 200
        client.post("/predict/batch", json={"items": [ITEM, ITEM]})
    files = sorted((paths.root / "incoming").glob("capture-*.jsonl"))
    records = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert len(records) == 7 and not list((paths.root / "incoming").glob(".*part"))
    assert records[0] == {**ITEM, "uploads": 0.0, "age": 9.0, "run_id": trained["b"],
                          "received_at": records[0]["received_at"]}


@pytest.mark.slow
def test_capture_can_be_switched_off(paths):
    with TestClient(create_app(make_config(paths, capture_enabled=False))) as client:
        client.post("/predict", json=ITEM)
        assert client.get("/mlops/capabilities").json()["enabled"]["payload_capture"] is False
    assert not (paths.root / "incoming").exists()


def test_capture_write_errors_never_fail_predictions(paths):
    blocked = paths.root / "not-a-dir"
    blocked.write_text("a file where the capture folder should be")
    with TestClient(create_app(make_config(paths, capture_dir=blocked))) as client:
        for _ in range(3):
            assert client.post("/predict", json=ITEM).status_code == 200
        wait_for(lambda: "yts_capture_write_errors_total 0.0" not in client.get("/metrics").text)


def test_capture_buffer_is_bounded(paths):
    from serving.observability import PayloadCapture

    capture = PayloadCapture(paths.root / "bounded", max_buffer=5, rotate_records=100, rotate_seconds=60,
                             flush_seconds=60)
    assert capture.add([ITEM] * 8) == 3
    assert capture.dropped == 3
    capture.stop()
    [batch] = (paths.root / "bounded").glob("capture-*.jsonl")
    assert len(batch.read_text().splitlines()) == 5


@pytest.mark.slow
def test_real_uvicorn_serves_and_swaps_without_failing_requests(paths, trained):
    with uvicorn_yts(paths, YTS_ADMIN_TOKEN=TOKEN, YTS_REGISTRY_POLL_SECONDS="0.1") as port:
        status, body = call(port, "POST", "/predict", ITEM)
        assert status == 200 and body["run_id"] == trained["b"]

        outcomes: list[tuple[int, str]] = []
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                code, answer = call(port, "POST", "/predict", ITEM)
                outcomes.append((code, answer.get("run_id")))

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for _ in range(3):
            assert call(port, "POST", "/mlops/registry/rollback", {"reason": "swap test"}, auth)[0] == 200
            assert call(port, "POST", "/mlops/registry/promote", {"run_id": trained["b"], "reason": "swap test"}, auth)[0] == 200
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        assert outcomes and all(code == 200 for code, _ in outcomes)
        assert {run for _, run in outcomes} <= {trained["a"], trained["b"]}
    captured = list((paths.root / "incoming").glob("capture-*.jsonl"))
    assert captured, "the capture buffer is flushed on shutdown"


def test_serving_reads_its_settings_from_the_configuration_module(monkeypatch, tmp_path):
    from serving.capabilities import tracking_enabled

    monkeypatch.setenv("YTS_ENABLE_MLFLOW", "1")
    assert tracking_enabled() is True  # what /mlops/capabilities reports, parsed like training parses it
    monkeypatch.setenv("YTS_ENABLE_MLFLOW", "perhaps")
    assert tracking_enabled().startswith("invalid: YTS_ENABLE_MLFLOW='perhaps'")
    monkeypatch.setenv("YTS_CAPTURE_ENABLED", "off")
    monkeypatch.setenv("YTS_REGISTRY_POLL_SECONDS", "0.5")
    monkeypatch.setenv("YTS_CAPTURE_DIR", str(tmp_path / "captured"))
    config = ServingConfig.from_env()
    assert config.capture_enabled is False
    assert config.registry_poll_seconds == 0.5 and config.incoming_dir == tmp_path / "captured"


def rewrite_run_consistently(paths: ProjectPaths, run_id: str, name: str, data: bytes) -> None:
    """An attacker with write access to runs/<id>/ replaces a file AND fixes its hash in the run's manifest."""
    folder = paths.published_runs_dir / run_id
    for path in folder.iterdir():
        path.chmod(0o644)
    (folder / name).write_bytes(data)
    manifest = json.loads((folder / "training_manifest.json").read_text())
    entry = next(a for a in manifest["artifacts"].values() if a["file"] == name)
    entry["sha256"] = hashlib.sha256(data).hexdigest()
    (folder / "training_manifest.json").write_text(json.dumps(manifest))


def test_a_run_folder_rewritten_as_a_whole_is_refused_everywhere(paths, trained):
    from yts_assets.core.registry import RegistryError, promote, verify_published_run
    from yts_assets.ml.models import SupervisedModel

    crafted = (paths.published_runs_dir / trained["b"] / "supervised_bundle.skops").read_bytes()
    rewrite_run_consistently(paths, trained["a"], "supervised_bundle.skops", crafted + b"\0")
    problems = verify_published_run(paths, trained["a"])
    assert problems and "does not match the manifest_sha256 recorded in the registry" in problems[0]
    with pytest.raises(RegistryError, match="failed verification"):
        promote(paths, trained["a"], reason="attacker", actor="pytest")
    set_active_by_hand(paths, trained["a"])
    with TestClient(create_app(make_config(paths))) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503 and "manifest_sha256" in ready.json()["problems"][0]
        assert client.post("/predict", json=ITEM).status_code == 503
    assert SupervisedModel.load(paths.published_runs_dir / trained["b"] / "supervised_bundle.skops")  # B untouched


def test_a_run_that_loads_but_cannot_predict_is_not_ready(paths, trained, tmp_path):
    from yts_assets.core.registry import register_run
    from yts_assets.ml.models import SupervisedModel

    published = paths.published_runs_dir / trained["b"]
    manifest = json.loads((published / "training_manifest.json").read_text())
    model = SupervisedModel.load(published / "supervised_bundle.skops")
    broken = SupervisedModel(encoder=model.encoder,
                             regressors={"contract": {"earnings": model.regressors["contract"]["earnings"]}})
    digest = broken.save(tmp_path / "supervised_bundle.joblib")
    manifest["run_id"] = "broken-run"
    for name, artifact in manifest["artifacts"].items():
        artifact["path"] = str(published / artifact["file"])
    manifest["artifacts"]["supervised_model"].update(path=str(tmp_path / "supervised_bundle.skops"), sha256=digest)
    joblib_bytes = (tmp_path / "supervised_bundle.joblib").read_bytes()
    manifest["artifacts"]["supervised_bundle"].update(path=str(tmp_path / "supervised_bundle.joblib"),
                                                      sha256=hashlib.sha256(joblib_bytes).hexdigest())
    register_run(paths, manifest, promote=True, reason="a model without two of its targets", actor="pytest")
    with TestClient(create_app(make_config(paths))) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "loads but cannot predict a probe row" in ready.json()["problems"][0]


@pytest.mark.slow
def test_capabilities_say_optuna_is_on_when_its_storage_is_a_database_url(client, monkeypatch):
    monkeypatch.delenv("YTS_OPTUNA_STORAGE", raising=False)
    assert client.get("/mlops/capabilities").json()["enabled"]["optuna"] is False  # no study yet, no URL
    monkeypatch.setenv("YTS_OPTUNA_STORAGE", "postgresql://yts@127.0.0.1:5432/optuna")
    assert client.get("/mlops/capabilities").json()["enabled"]["optuna"] is True


KILLED_WRITER = """
import sys, time
from serving.observability import PayloadCapture
capture = PayloadCapture(__import__("pathlib").Path(sys.argv[1]), max_buffer=100, rotate_records=1000,
                         rotate_seconds=600, flush_seconds=600)
capture.add([{"uploads": n, "age": 1, "category": "Music", "country": "India"} for n in range(3)])
capture.flush()
with open(capture._part, "a") as handle:  # the 4th record half-written when the kill lands
    handle.write('{"uploads": 3, "ag')
print(capture._part, flush=True)
time.sleep(60)
"""


@pytest.mark.slow
def test_a_batch_left_open_by_a_killed_writer_is_closed_by_the_next_one(paths):
    """kill -9 of a capture writer leaves its .part file; the next writer's start closes it without the torn
    line, and leaves a live writer's .part, symlinks and other files alone."""
    from serving.observability import PayloadCapture

    incoming = paths.root / "incoming"
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(incoming)], cwd=REPO, stdout=subprocess.PIPE,
                              text=True)
    try:
        part = Path(writer.stdout.readline().strip())
    finally:
        writer.kill()
        writer.wait(timeout=10)
    live = incoming / f".capture-20260101T000000000000Z-{os.getpid()}.jsonl.part"
    live.write_text('{"uploads": 1')
    (incoming / ".capture-20260101T000000000001Z-999999999.jsonl.part").symlink_to(live)
    capture = PayloadCapture(incoming, max_buffer=10, rotate_records=10, rotate_seconds=60, flush_seconds=60)
    capture.start()
    capture.stop()
    closed = incoming / part.name.removeprefix(".").removesuffix(".part")
    assert not part.exists() and [json.loads(line)["uploads"] for line in closed.read_text().splitlines()] == [0, 1, 2]
    assert live.read_text() == '{"uploads": 1' and (incoming / ".capture-20260101T000000000001Z-999999999.jsonl.part"
                                                    ).is_symlink()
