"""A client written for the original platform, against a real uvicorn yts: every endpoint of CONTRACT.md with the
original's own payload shapes, every response validated by the strict mirror models of tests/contract.py."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from serving.app import create_app
from serving.config import ServingConfig
from tests import contract
from tests.servers import request as http_request
from tests.servers import uvicorn_yts
from yts_assets.core.paths import ProjectPaths

ITEM = {"uploads": 1200, "category": "Music", "country": "India", "age": 9}
SIMULATION = {"category": "Music", "country": "India", "age": 9, "start_uploads": 100, "end_uploads": 1000, "step": 100}
CALLS: dict[str, tuple[str, object]] = {  # endpoint -> (path and query, body): the original's own examples
    "GET /health": ("/health", None),
    "GET /ready": ("/ready", None),
    "POST /predict": ("/predict", ITEM),
    "POST /predict/batch": ("/predict/batch", {"items": [ITEM, {**ITEM, "uploads": 50, "age": 2}]}),
    "POST /predict/simulate": ("/predict/simulate", SIMULATION),
    "POST /predict/recommendation": ("/predict/recommendation", ITEM),
    "GET /predict/feature-importance": ("/predict/feature-importance?target=earnings&top_n=3", None),
    "GET /clusters/summary": ("/clusters/summary", None),
    "GET /maps/country-metrics": ("/maps/country-metrics", None),
    "GET /maps/influence-map": ("/maps/influence-map", None),
    "GET /maps/earnings-choropleth": ("/maps/earnings-choropleth", None),
    "GET /maps/category-dominance": ("/maps/category-dominance", None),
    "GET /data/raw-sample": ("/data/raw-sample?limit=5", None),
    "GET /data/processed-sample": ("/data/processed-sample?limit=5", None),
    "GET /analytics/category-performance": ("/analytics/category-performance?top_n=5", None),
    "GET /analytics/upload-growth-buckets": ("/analytics/upload-growth-buckets", None),
    "GET /mlops/manifest": ("/mlops/manifest", None),
    "GET /mlops/registry": ("/mlops/registry", None),
    "POST /mlops/drift-check": ("/mlops/drift-check", {"items": [ITEM] * 3, "z_threshold": 3.0,
                                                       "min_category_frequency": 0.01}),
    "GET /mlops/capabilities": ("/mlops/capabilities", None),
    "GET /metrics": ("/metrics", None),
}
SLOW = {"GET /mlops/capabilities"}  # its first call lists the Dagster definitions in a subprocess


@pytest.fixture(scope="module")
def contract_text() -> str:
    if not contract.CONTRACT_PATH.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{contract.CONTRACT_PATH} is missing: CI runs with ../shared beside the checkout")
        pytest.skip(f"{contract.CONTRACT_PATH} is not beside this checkout")
    return contract.CONTRACT_PATH.read_text()


class Api:
    """One way to reach the API: `request(method, path, body) -> (status, content type, body bytes)`."""

    def __init__(self, send) -> None:  # noqa: ANN001
        self.send = send

    def request(self, method: str, path: str, body: object = None) -> tuple[int, str, bytes]:
        return self.send(method, path, body)

    def call(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        status, _, data = self.send(method, path, body)
        return status, json.loads(data or b"{}")


@pytest.fixture(scope="module", params=["asgi", pytest.param("uvicorn", marks=pytest.mark.slow)])
def api(request, trained, tmp_path_factory):
    """The same suite in-process (fast) and against a real uvicorn on 127.0.0.1 (slow)."""
    root = tmp_path_factory.mktemp("contract") / "project"
    shutil.copytree(trained["root"], root)
    paths = ProjectPaths(root=root, artifact_dir=root / "artifacts")
    if request.param == "uvicorn":
        with uvicorn_yts(paths, YTS_CAPTURE_ENABLED="false") as port:
            yield Api(lambda method, path, body: http_request(port, method, path, body))
        return
    with TestClient(create_app(ServingConfig(paths=paths, capture_enabled=False))) as client:
        def send(method: str, path: str, body: object) -> tuple[int, str, bytes]:
            response = client.request(method, path, json=body)
            return response.status_code, response.headers.get("content-type", ""), response.content
        yield Api(send)


def test_the_mirror_covers_every_endpoint_and_field_of_the_contract(contract_text):
    listed = contract.contract_endpoints(contract_text)
    assert set(listed) == set(contract.ENDPOINTS) == set(CALLS)
    for endpoint, names in listed.items():
        model = contract.ENDPOINTS[endpoint]
        if isinstance(model, type):
            assert names <= contract.field_names(model), (endpoint, names - contract.field_names(model))
    for section, model in (("Manifest keys", contract.Manifest), ("Registry", contract.Registry)):
        body = contract_text.split(f"### {section}")[1].split("\n#")[0]
        keys = set(re.findall(r"`([a-z_]+)`", body))
        assert keys and keys <= contract.field_names(model), (section, keys - contract.field_names(model))


@pytest.mark.parametrize("endpoint", [pytest.param(e, marks=pytest.mark.slow) if e in SLOW else e for e in CALLS])
def test_endpoint_answers_the_original_shape(api, endpoint):
    method, _ = endpoint.split(" ", 1)
    path, body = CALLS[endpoint]
    status, content_type, data = api.request(method, path, body)
    assert status == 200, (endpoint, data[:500])
    shape = contract.ENDPOINTS[endpoint]
    if shape == contract.HTML:
        assert content_type.startswith("text/html") and b"<html" in data.lower()[:2000]
    elif shape == contract.TEXT:
        assert content_type.startswith("text/plain")
    elif isinstance(shape, type):
        shape.model_validate_json(data)


def test_unknown_fields_are_accepted_and_named(api):
    status, body = api.call("POST", "/predict", {**ITEM, "channel_name": "x", "upload": 3})
    assert status == 200
    assert body["warnings"] == ["unknown field 'channel_name' was ignored", "unknown field 'upload' was ignored"]
    status, plain = api.call("POST", "/predict", ITEM)
    assert {k: body[k] for k in plain if k != "warnings"} == {k: plain[k] for k in plain if k != "warnings"}
    status, batch = api.call("POST", "/predict/batch", {"items": [{**ITEM, "extra": 1}], "client": "v1"})
    assert status == 200 and batch["warnings"] == ["unknown field 'client' was ignored"]
    assert batch["records"][0]["warnings"] == ["unknown field 'extra' was ignored"]
    status, drift = api.call("POST", "/mlops/drift-check", {"items": [{**ITEM, "extra": 1}], "mode": "x"})
    assert status == 200 and drift["warnings"] == ["unknown field 'mode' was ignored",
                                                   "items[0]: unknown field 'extra' was ignored"]
    status, many = api.call("POST", "/predict", {**ITEM, **{f"k{i}" * 40: i for i in range(30)}})
    assert status == 200 and len(many["warnings"]) == 11 and many["warnings"][-1] == "20 more unknown fields were ignored"
    assert all(len(w) < 120 for w in many["warnings"])


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/predict", {**ITEM, "uploads": 2_000_001}, "uploads"),
    ("/predict", {**ITEM, "uploads": 1.5}, "uploads"),
    ("/predict", {**ITEM, "age": 101}, "age"),
    ("/predict", {**ITEM, "category": "  "}, "category"),
    ("/predict", {**ITEM, "country": "x" * 101}, "country"),
    ("/predict/batch", {"items": [ITEM] * 501}, "items"),
    ("/predict/simulate", {**SIMULATION, "step": 0}, "step"),
    ("/predict/simulate", {**SIMULATION, "step": 200_001}, "step"),
    ("/predict/simulate", {**SIMULATION, "end_uploads": 50}, "end_uploads"),
    ("/predict/simulate", {**SIMULATION, "start_uploads": 0, "end_uploads": 2_000_000, "step": 1}, "step"),
    ("/predict/simulate", {**SIMULATION, "uploads_min": 1, "uploads_max": 10}, "uploads_min"),
    ("/predict/simulate", {"category": "Music", "country": "India", "age": 9, "start_uploads": 1}, "end_uploads"),
    ("/mlops/drift-check", {"items": [ITEM], "z_threshold": 0.05}, "z_threshold"),
    ("/mlops/drift-check", {"items": [ITEM], "z_threshold": 10.5}, "z_threshold"),
    ("/mlops/drift-check", {"items": [ITEM], "min_category_frequency": 1.5}, "min_category_frequency"),
])
def test_bounds_are_the_originals_and_errors_name_the_field(api, path, body, field):
    status, answer = api.call("POST", path, body)
    assert status == 422 and field in json.dumps(answer["detail"])


@pytest.mark.parametrize(("query", "status"), [
    ("/predict/feature-importance?top_n=50", 200), ("/predict/feature-importance?top_n=51", 422),
    ("/predict/feature-importance?target=views", 422), ("/data/raw-sample?limit=200", 200),
    ("/data/raw-sample?limit=201", 422), ("/data/processed-sample?limit=1000", 200),
    ("/data/processed-sample?limit=1001", 422), ("/analytics/category-performance?top_n=2", 422),
    ("/analytics/category-performance?top_n=30", 200), ("/analytics/category-performance?top_n=31", 422),
])
def test_query_bounds(api, query, status):
    assert api.request("GET", query)[0] == status


def test_defaults_are_the_originals(api):
    assert api.call("GET", "/predict/feature-importance")[1]["target"] == "subscribers"
    assert len(api.call("GET", "/data/raw-sample")[1]["records"]) == 10
    assert len(api.call("GET", "/data/processed-sample")[1]["records"]) == 10
    drift = api.call("POST", "/mlops/drift-check", {"items": [ITEM]})[1]
    assert drift["summary"]["settings"]["z_threshold"] == 3.0
    assert drift["summary"]["settings"]["min_category_frequency"] == 0.01


def test_simulation_both_forms(api):
    status, original = api.call("POST", "/predict/simulate", SIMULATION)
    assert status == 200 and original["input"] == SIMULATION
    assert [p["uploads"] for p in original["points"]] == list(range(100, 1001, 100))
    best = max(original["points"], key=lambda p: p["predicted_earnings"])
    assert original["best_uploads_by_earnings"] == best["uploads"]
    status, single = api.call("POST", "/predict", {**ITEM, "uploads": 300})
    assert original["points"][2]["predicted_growth"] == single["predicted_growth"]
    ours = {"category": "Music", "country": "India", "age": 9, "uploads_min": 100, "uploads_max": 1000, "points": 10}
    status, linear = api.call("POST", "/predict/simulate", ours)
    assert status == 200 and [p["uploads"] for p in linear["points"]] == list(range(100, 1001, 100))
    assert linear["points"] == original["points"]


def test_the_original_dashboard_and_alert_selectors_match(api):
    api.call("POST", "/predict", ITEM)
    api.request("GET", "/no/such/page")
    text = api.request("GET", "/metrics")[2].decode()
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    predict = [s for s in samples if s.name == "http_requests_total" and s.labels.get("path") == "/predict"]
    latency = [s for s in samples if s.name == "http_request_latency_seconds_sum" and s.labels.get("path") == "/predict"]
    assert predict and sum(s.value for s in predict) >= 1  # absent(http_requests_total{path="/predict"}) is empty
    assert latency and latency[0].value > 0  # rate(http_request_latency_seconds_sum{path="/predict"}[5m]) has a series
    paths = {s.labels["path"] for s in samples if s.name == "http_requests_total"}
    assert "unmatched" in paths and not any("no/such" in p for p in paths)
    assert paths <= {route for route in (e.split(" ", 1)[1] for e in CALLS)} | {"unmatched", "/openapi.json"}


def test_extended_inputs_keep_the_original_shape(api):
    """yts's optional inputs (issue 15) sit beside the original's: the answer still has the original's fields and
    types, and the new inputs are known fields, never named as unknown."""
    extended = {**ITEM, "channel_type": "Music", "video_views": 5_000_000_000, "video_views_last_30_days": 50_000_000}
    for endpoint, body in (("POST /predict", extended), ("POST /predict/recommendation", extended),
                           ("POST /predict/batch", {"items": [ITEM, extended]}),
                           ("POST /predict/simulate", {**SIMULATION, **{k: extended[k] for k in extended
                                                                        if k not in ITEM}})):
        status, _, data = api.request("POST", CALLS[endpoint][0], body)
        assert status == 200, (endpoint, data[:500])
        contract.ENDPOINTS[endpoint].model_validate_json(data)
        answer = json.loads(data)
        warnings = [w for r in answer.get("records", [answer]) for w in r["warnings"]] + answer.get("warnings", [])
        assert not [w for w in warnings if "unknown field" in w], (endpoint, warnings)
