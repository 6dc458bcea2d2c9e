"""POST /predict's fast path (serving/routers/predictions.py, PredictFastPath): the same answers, refusals, metrics
and records as the FastAPI route it bypasses, and every request it does not answer handed to FastAPI intact."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from serving.app import create_app
from serving.errors import MAX_BODY_BYTES
from serving.routers.predictions import PredictFastPath
from serving.schemas import BatchResponse, PredictResponse
from tests.test_serving import ITEM, make_config
from yts_assets.core.paths import ProjectPaths

FAST = {"content-type": "application/json"}  # what clients send: the fast path answers
ROUTED = {"content-type": "application/json; charset=utf-8"}  # valid too, and left to FastAPI's route
BODIES = [
    ITEM,
    {**ITEM, "category": "  music ", "country": "INDIA"},
    {**ITEM, "country": "Narnia", "category": "Knitting"},
    {**ITEM, "extra": 1, "another": {"nested": [1, 2]}},
    {**ITEM, "channel_type": "Music", "video_views": 10**9, "video_views_last_30_days": 10**7},
    {**ITEM, "channel_type": "Music"},
    {**ITEM, "uploads": 0, "age": 0},
    {**ITEM, "uploads": 2_000_000, "age": 100, "country": "Ünïcödé ✓"},
]
REFUSED = [
    b'{"uploads": 1200, "category": "Music", "country": "India"}',
    b'{"uploads": -1, "category": "Music", "country": "India", "age": 9}',
    b'{"uploads": 12.5, "category": "Music", "country": "India", "age": 9}',
    b'{"uploads": NaN, "category": "Music", "country": "India", "age": 9}',
    b'{"uploads": 1200, "category": "\\ud800", "country": "India", "age": 9}',
    b'{"uploads": 1200, "category": "   ", "country": "India", "age": 9}',
    b'{"uploads": 1200, "category": "Music", "country": "India", "age": 9',
    b"[1, 2, 3]",
    b"",
    b"\xff\xfe{}",
    b"[" * 10_000 + b"]" * 10_000,
]


@pytest.fixture
def app(trained, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(trained["root"], root)
    return create_app(make_config(ProjectPaths(root=root, artifact_dir=root / "artifacts"), capture_rotate_records=1))


@pytest.fixture
def client(app):
    with TestClient(app) as test_client:
        yield test_client


def scrape(client: TestClient) -> dict[tuple[str, tuple], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(client.get("/metrics").text) for sample in family.samples}


def test_the_fast_path_answers_exactly_as_the_route(client):
    for body in BODIES:
        content = json.dumps(body, ensure_ascii=False).encode()
        fast = client.post("/predict", content=content, headers=FAST)
        routed = client.post("/predict", content=content, headers=ROUTED)
        assert fast.status_code == routed.status_code == 200, (body, fast.text, routed.text)
        assert fast.content == routed.content, body
        assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"
        assert fast.headers["content-length"] == routed.headers["content-length"]


def test_refusals_are_the_frameworks_whichever_way_they_came(client):
    for content in REFUSED:
        fast = client.post("/predict", content=content, headers=FAST)
        routed = client.post("/predict", content=content, headers=ROUTED)
        assert 400 <= fast.status_code < 500 and fast.status_code == routed.status_code, (content[:60], fast.text)
        assert fast.json() == routed.json(), content[:60]


def test_a_streamed_body_over_the_limit_gets_413(client):
    huge = json.dumps({**ITEM, "pad": "x" * (MAX_BODY_BYTES + 10)}).encode()
    streamed = client.post("/predict", content=iter([huge[:1000], huge[1000:]]), headers=FAST)
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413 and f"{MAX_BODY_BYTES} bytes" in streamed.json()["detail"]
    chunked = client.post("/predict", content=iter([b'{"uploads": 1200, "category": "Music", ',
                                                    b'"country": "India", "age": 9}']), headers=FAST)
    assert chunked.status_code == 200 and chunked.json()["input_schema"] == "contract"
    metrics = scrape(client)
    assert metrics[("http_requests_total", (("method", "POST"), ("path", "/predict"), ("status", "413")))] == 1


def test_fast_answers_are_counted_recorded_and_captured(client, app):
    for body in BODIES:
        assert client.post("/predict", json=body).status_code == 200
    client.post("/predict", content=REFUSED[0], headers=FAST)
    metrics = scrape(client)
    count = len(BODIES)
    assert metrics[("http_requests_total", (("method", "POST"), ("path", "/predict"), ("status", "200")))] == count
    assert metrics[("http_requests_total", (("method", "POST"), ("path", "/predict"), ("status", "422")))] == 1
    assert metrics[("http_request_latency_seconds_count", (("method", "POST"), ("path", "/predict")))] == count + 1
    assert metrics[("yts_predictions_total", (("endpoint", "predict"),))] == count
    assert metrics[("yts_predicted_value_count", (("target", "growth"),))] == count
    assert metrics[("yts_predictions_by_schema_total", (("input_schema", "extended"),))] == 1
    assert metrics[("yts_unknown_inputs_total", (("input", "country"),))] == 2  # Narnia, Ünïcödé
    assert metrics[("yts_traffic_drift_records", ())] == count
    capture = app.state.capture
    capture.flush(final=True)
    assert capture.written == count
    records = [json.loads(line) for path in sorted(capture.directory.glob("capture-*.jsonl"))
               for line in path.read_text().splitlines()]
    assert [set(record) for record in records] == [{"uploads", "category", "country", "age", "run_id",
                                                    "received_at"}] * count
    assert records[1]["category"] == "music" and records[1]["received_at"].endswith("+00:00")


def test_503_before_a_run_is_served_comes_from_the_route(tmp_path):
    empty = ProjectPaths(root=tmp_path, artifact_dir=tmp_path / "artifacts")
    with TestClient(create_app(make_config(empty))) as client:
        response = client.post("/predict", json=ITEM)
    assert response.status_code == 503 and response.json()["detail"]["ready"] is False


class Downstream:
    """Stands for FastAPI behind the fast path: records what reaches it, answers 299."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes | BaseException]] = []

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        body = b""
        try:
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
        except HTTPException as exc:
            self.calls.append((scope["path"], exc))
        else:
            self.calls.append((scope["path"], body))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def call(asgi, path: str, chunks: list[bytes | BaseException], headers=((b"content-type", b"application/json"),)):  # noqa: ANN001, ANN201
    """Drive one request through an ASGI app; `chunks` are the body's messages (an exception is raised instead)."""
    messages = list(chunks)
    sent: list[dict] = []

    async def receive() -> dict:
        item = messages.pop(0)
        if isinstance(item, BaseException):
            raise item
        return {"type": "http.request", "body": item, "more_body": bool(messages)}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": list(headers), "query_string": b""}
    asyncio.run(asgi(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]), scope


def test_the_fast_path_hands_on_what_it_does_not_answer_intact(client, app):
    downstream = Downstream()
    fast = PredictFastPath(downstream, app.state)
    body = json.dumps(ITEM).encode()
    status, answer, scope = call(fast, "/predict", [body[:10], body[10:]])
    assert status == 200 and json.loads(answer)["run_id"] and not downstream.calls
    assert scope["route"].path == "/predict"  # what the metrics middleware labels
    assert call(fast, "/predict/batch", [body])[0] == 299
    assert call(fast, "/predict", [body], headers=[(b"content-type", b"text/plain")])[0] == 299
    assert call(fast, "/predict", [b'{"uploads": "many"}'])[0] == 299
    assert call(fast, "/predict", [b'{"age"', b': 1}'])[0] == 299
    limit = HTTPException(413, detail="too large")
    assert call(fast, "/predict", [b'{"uploads"', limit])[0] == 299
    assert downstream.calls == [("/predict/batch", body), ("/predict", body), ("/predict", b'{"uploads": "many"}'),
                                ("/predict", b'{"age": 1}'), ("/predict", limit)]


def test_answers_sent_without_validation_are_what_their_response_models_would_send(client):
    """/predict and /predict/batch send prepared JSON (their response_model documents it): it must parse as that
    model and re-serialize to the same bytes: same fields, order and encoding."""
    for body in BODIES:
        content = client.post("/predict", json=body).content
        assert PredictResponse.model_validate_json(content).model_dump_json().encode() == content
    content = client.post("/predict/batch", json={"items": BODIES, "extra": 1}).content
    assert BatchResponse.model_validate_json(content).model_dump_json().encode() == content
