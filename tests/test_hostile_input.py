"""Hostile input (issue 10, item 7): every malformed request gets a 4xx JSON answer naming the field, never a 500."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from serving.app import create_app
from serving.config import ServingConfig
from serving.errors import MAX_BODY_BYTES
from tests.conftest import train_project
from tests.test_serving import ITEM, TOKEN, make_config
from yts_assets.core.paths import ProjectPaths

AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}
DEEP = "[" * 10_000 + "]" * 10_000


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> ProjectPaths:
    """One published run, trained once for the module on demo data."""
    return train_project(tmp_path_factory.mktemp("hostile"), None)[0]


@pytest.fixture(scope="module")
def client(project):
    with TestClient(create_app(make_config(project))) as test_client:
        assert test_client.get("/ready").status_code == 200
        yield test_client


def raw(values: dict | None = None, **tokens: str) -> str:
    """A JSON object as text: `values` (ITEM by default) encoded, then `tokens` spliced in as raw JSON."""
    fields = {json.dumps(k): json.dumps(v) for k, v in (ITEM if values is None else values).items()}
    fields |= {json.dumps(k): v for k, v in tokens.items()}
    return "{" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}"


def assert_refused(response: httpx.Response, caplog: pytest.LogCaptureFixture, field: str | None = None) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    if field is not None:
        assert response.status_code == 422
        assert field in {str(part) for error in body["detail"] for part in error["loc"]}, body
        assert all({"loc", "msg", "type"} <= set(error) and "input" not in error for error in body["detail"])
    assert not [r for r in caplog.records if r.name == "yts.serving.errors"], "reached the 500 handler"


SIMULATE = {"category": "Music", "country": "India", "age": 9, "uploads_min": 10, "uploads_max": 100}


@pytest.mark.parametrize(("path", "content", "field"), [
    ("/predict", raw(uploads="NaN"), "uploads"),
    ("/predict", raw(uploads="Infinity"), "uploads"),
    ("/predict", raw(age="-Infinity"), "age"),
    ("/predict", raw(uploads="1e400"), "uploads"),
    ("/predict", raw(age="-1e400"), "age"),
    ("/predict", raw(category='"\\ud800"'), "category"),
    ("/predict", raw(country='"India\\udfff"').encode(), "country"),
    ("/predict", raw(category='"\ud800"').encode("utf-8", "surrogatepass"), "category"),  # CESU-8 bytes
    ("/predict", raw(**{"\ud800": "1"}), "body"),  # as a field name: pydantic cannot read the key, so the body
    ("/predict", raw(category="42"), "category"),
    ("/predict", raw(uploads='{"a": NaN}'), "uploads"),
    ("/predict", raw(uploads="[" * 500 + "]" * 500), "uploads"),  # parses, but must not be echoed back
    ("/predict/recommendation", raw(uploads="Infinity"), "uploads"),
    ("/predict", raw(video_views="NaN"), "video_views"),  # the optional extended inputs (issue 15)
    ("/predict", raw(video_views="1e400"), "video_views"),
    ("/predict", raw(video_views_last_30_days="-Infinity"), "video_views_last_30_days"),
    ("/predict", raw(video_views="9" * 30), "video_views"),
    ("/predict", raw(channel_type='"\\ud800"'), "channel_type"),
    ("/predict/recommendation", raw(channel_type="[" * 500 + "]" * 500), "channel_type"),
    ("/predict/simulate", raw(SIMULATE, video_views_last_30_days="Infinity"), "video_views_last_30_days"),
    ("/predict/simulate", raw(SIMULATE, channel_type='"\\udc00"'), "channel_type"),
    ("/predict/batch", raw({"items": [ITEM]}, items=f"[{raw(uploads='NaN')}]"), "uploads"),
    ("/predict/simulate", raw(SIMULATE, uploads_max="Infinity"), "uploads_max"),
    ("/predict/simulate", raw(SIMULATE, age="NaN"), "age"),
    ("/predict/simulate", raw(SIMULATE, points="1e400"), "points"),
    ("/predict/simulate", raw(SIMULATE, country='"\\udc00"'), "country"),
    ("/mlops/drift-check", raw({"items": [ITEM]}, z_threshold="NaN"), "z_threshold"),
    ("/mlops/drift-check", raw({"items": [ITEM]}, min_category_frequency="-Infinity"), "min_category_frequency"),
    ("/mlops/registry/rollback", raw({}, reason='"\\ud800"'), "reason"),
    ("/mlops/registry/promote", raw({"reason": "x"}, run_id='"\\ud83d"'), "run_id"),
])
def test_hostile_fields_are_refused_by_name(client, caplog, path, content, field):
    assert_refused(client.post(path, content=content, headers={**JSON, **AUTH}), caplog, field)


@pytest.mark.parametrize("content", [
    b'{"uploads": 1200, "category": ',  # truncated
    b"{'uploads': 1200}",  # not JSON
    b'{"uploads": 1200,}',
    b"\xff\xfe\x00garbage",  # not UTF-8
    raw(uploads="9" * 5000).encode(),  # an integer Python refuses to parse
    DEEP.encode(),  # 10,000 nested arrays
    raw(uploads=DEEP).encode(),
    b"",
    b"null",
    b"[]",
])
def test_bodies_that_are_not_a_request_are_refused(client, caplog, content):
    for path in ("/predict", "/predict/batch", "/predict/simulate", "/mlops/drift-check"):
        assert_refused(client.post(path, content=content, headers=JSON), caplog)


def test_wrong_content_type_is_refused(client, caplog):
    assert_refused(client.post("/predict", content=json.dumps(ITEM), headers={"content-type": "text/plain"}), caplog)


def test_oversized_bodies_get_413(client, caplog):
    huge = raw({"items": [ITEM]}, pad=json.dumps("x" * MAX_BODY_BYTES)).encode()
    declared = client.post("/predict/batch", content=huge, headers=JSON)
    streamed = client.post("/predict/batch", content=iter([huge[:1000], huge[1000:]]), headers=JSON)
    assert "content-length" not in streamed.request.headers  # chunked: counted as it arrives
    claimed = client.get("/health", headers={"content-length": str(10**20)})
    for response in (declared, streamed, claimed):
        assert_refused(response, caplog)
        assert response.status_code == 413 and f"{MAX_BODY_BYTES} bytes" in response.json()["detail"]
    assert client.post("/predict/batch", json={"items": [ITEM] * 500}).status_code == 200  # the largest batch
    assert 'path="/predict/batch",status="413"' in client.get("/metrics").text


def test_unexpected_errors_answer_a_short_json_500_and_are_logged(tmp_path, caplog):
    app = create_app(make_config(ProjectPaths(root=tmp_path, artifact_dir=tmp_path / "artifacts")))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR, logger="yts.serving.errors"), \
            TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/boom")
    assert response.status_code == 500 and response.json() == {"detail": "internal server error"}
    assert "secret" not in response.text
    [record] = [r for r in caplog.records if r.name == "yts.serving.errors"]
    assert "RuntimeError on GET /boom" in record.getMessage() and record.exc_info


# The document comes from the app itself (no model needed to describe it); each case goes to a trained app.
# Not `schemathesis.pytest.from_fixture`: its lazy loader reads `Function._nodeid`, which pytest 9 no longer has.
schema = schemathesis.openapi.from_dict(create_app(ServingConfig(ProjectPaths(Path("unused"), Path("unused")),
                                                                capture_enabled=False)).openapi())
ADMIN_ONLY = {"/mlops/registry/promote", "/mlops/registry/rollback"}
NEEDS_FEAST_STORE = {"/channels/{channel_id}/prediction"}  # 503, documented, until feast_online_store is materialized


@pytest.fixture
def api(project) -> FastAPI:
    """A fresh app per operation: schemathesis starts its lifespan and ends it with the test."""
    return create_app(make_config(project))


@schema.parametrize()
@settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@pytest.mark.slow
def test_openapi_property_based(case, api):
    """In-process, no network: no 5xx, and every documented answer keeps to its schema."""
    checks = [response_schema_conformance]
    if case.operation.path not in NEEDS_FEAST_STORE:
        checks.append(not_a_server_error)
    if case.operation.path != "/metrics":  # Prometheus text, which the schema (wrongly) documents as JSON
        checks.append(content_type_conformance)
    if case.operation.path not in ADMIN_ONLY:  # without a token these answer 401, which the schema does not list
        checks.append(status_code_conformance)
    case.call_and_validate(app=api, checks=checks)
