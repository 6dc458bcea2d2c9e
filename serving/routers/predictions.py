"""Predictions: single, batch, simulated ranges and recommendations, from the serving run's models.

Each row is served by the richest input schema whose inputs it gives in full: `extended` when channel_type,
video_views and video_views_last_30_days are all given and the run has extended models, else `contract`. The
response names it (`input_schema`) and carries the run's prediction intervals (`intervals`, null for a run
trained without them).

`POST /predict` is the hot path: `PredictFastPath` answers it straight from ASGI, without the framework's routing,
dependency solving and response validation, and hands FastAPI every request it does not answer, so errors (422,
400, 413, 503) come from the one place they always did.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic_core import to_json
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yts_assets.ml.features import CONTRACT_SCHEMA, EXTENDED_SCHEMA
from yts_assets.ml.models import Predictions

from ..advice import recommend
from ..dependencies import ServingRun
from ..observability import Recorder
from ..schemas import (
    EXTENDED_FIELDS,
    BatchRequest,
    BatchResponse,
    PredictRequest,
    PredictResponse,
    RecommendationResponse,
    SimulateRequest,
    SimulateResponse,
    unknown_field_warnings,
)
from ..store import LoadedRun

router = APIRouter(prefix="/predict", tags=["predictions"])
JSON = "application/json"
JSON_BYTES = JSON.encode()
OUTPUT_NAMES = {"subscribers": "predicted_subscribers", "earnings": "predicted_earnings", "growth": "predicted_growth"}
ALL_EXTENDED = len(EXTENDED_FIELDS)


def unknown_warnings(unknown: list[str], values: dict[str, object]) -> list[str]:
    return [f"{name} {values[name]!r} is not in the training vocabulary; the model treats it as unknown"
            for name in unknown]


def schema_warnings(given: list[str], run: LoadedRun) -> list[str]:
    """Why extended inputs that were given did not make the extended models serve the row (nothing when they did)."""
    if not given or len(given) == ALL_EXTENDED and EXTENDED_SCHEMA in run.supervised.regressors:
        return []
    if EXTENDED_SCHEMA not in run.supervised.regressors:
        return [f"{', '.join(given)} given, but run {run.run_id} has no extended models (it was trained before "
                "them): the contract model served this row; retrain (yts-run) to use them"]
    missing = [name for name in EXTENDED_FIELDS if name not in given]
    return [f"{', '.join(missing)} not given: the extended model needs all of {', '.join(EXTENDED_FIELDS)}, so "
            "the contract model served this row"]


def extended_given(item: Any) -> list[str]:
    """The extended inputs an item gives, in EXTENDED_FIELDS order."""
    return [name for name in EXTENDED_FIELDS if getattr(item, name) is not None]


def encode_items(run: LoadedRun, items: Sequence[Any], given: list[list[str]]) -> tuple[np.ndarray, np.ndarray | None]:
    """The encoded matrix and which rows the extended models serve (None: every row by the contract models)."""
    model = run.supervised
    uploads, age = [i.uploads for i in items], [i.age for i in items]
    category, country = [i.category for i in items], [i.country for i in items]
    if not any(given):  # the original platform's request: the contract columns only
        return model.encode(uploads, age, category, country), None
    features = model.encode(uploads, age, category, country, channel_type=[i.channel_type for i in items],
                            video_views=[i.video_views for i in items],
                            video_views_last_30_days=[i.video_views_last_30_days for i in items])
    if EXTENDED_SCHEMA not in model.regressors:
        return features, None
    return features, np.fromiter((len(g) == ALL_EXTENDED for g in given), dtype=bool, count=len(given))


def interval_rows(run: LoadedRun, predictions: Predictions) -> list[dict[str, object] | None]:
    """Per row, the response's `intervals` (None for every row of a run trained without intervals)."""
    coverage = run.supervised.interval_coverage
    count = len(predictions.schemas)
    if predictions.lower is None or predictions.upper is None or coverage is None:
        return [None] * count
    bounds = [(OUTPUT_NAMES[t], predictions.lower[t].tolist(), predictions.upper[t].tolist()) for t in OUTPUT_NAMES]
    return [{"coverage": coverage, **{name: {"lower": low[i], "upper": up[i]} for name, low, up in bounds}}
            for i in range(count)]


def contract_inputs(items: Sequence[Any]) -> list[dict[str, Any]]:
    """What the traffic window and capture keep of each item: the four contract inputs, never the extended inputs
    nor unknown fields."""
    return [{"uploads": i.uploads, "category": i.category, "country": i.country, "age": i.age} for i in items]


def predict_items(run: LoadedRun, items: Sequence[PredictRequest]) -> tuple[list[dict[str, object]], list[list[str]]]:
    """One vectorized call for any number of rows, each by its own schema: (rows with their own warnings,
    unseen inputs per row)."""
    model = run.supervised
    given = [extended_given(item) for item in items]
    features, extended_rows = encode_items(run, items, given)
    predictions = model.predict_rows(features, extended_rows)
    unknown = model.unknown_inputs(features, extended_rows)
    values = [(name, predictions.values[t].tolist()) for t, name in OUTPUT_NAMES.items()]
    intervals = interval_rows(run, predictions)
    rows = []
    for index, item in enumerate(items):
        row: dict[str, object] = {name: column[index] for name, column in values}
        warnings = unknown_field_warnings(item) if item.model_extra else []
        if given[index]:
            warnings += schema_warnings(given[index], run)
        if unknown[index]:
            warnings += unknown_warnings(unknown[index], {"category": item.category, "country": item.country,
                                                          "channel_type": item.channel_type})
        row["warnings"] = warnings
        row["input_schema"] = predictions.schemas[index]
        row["intervals"] = intervals[index]
        rows.append(row)
    return rows, unknown


def predict_one_json(item: PredictRequest, run: LoadedRun, recorder: Recorder) -> bytes:
    """The body of a /predict answer, recorded: what the route and the fast path both send."""
    [row], unseen = predict_items(run, [item])
    recorder.record("predict", run.run_id, contract_inputs([item]), [row], unseen)
    row["run_id"] = run.run_id
    return to_json(row, inf_nan_mode="null")  # PredictResponse's order and encoding, without validating it again


@router.post("", response_model=PredictResponse)
async def predict_one(item: PredictRequest, run: ServingRun, request: Request) -> Response:
    return Response(predict_one_json(item, run, request.app.state.recorder), media_type=JSON)


class PredictFastPath:
    """Pure ASGI, inside the app-wide middleware (metrics, body limit): answers `POST /predict` with
    `content-type: application/json` as the route above would, validating the body the way FastAPI does
    (`json.loads`, then PredictRequest in Python mode), and passes everything else on to FastAPI untouched: other
    requests, other content types, a body that does not parse or validate (replayed), no run loaded."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app, self.state = app, state
        self.route = next(route for route in router.routes if getattr(route, "path", None) == "/predict"
                          and "POST" in getattr(route, "methods", ()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/predict" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        run = self.state.store.current
        if run is None or not any(name == b"content-type" and value == b"application/json"
                                  for name, value in scope["headers"]):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            try:
                message = await receive()
            except HTTPException as limit:  # over the body limit: FastAPI answers it, as for any route
                await self.app(scope, replay(chunks, receive, limit), send)
                return
            if message["type"] != "http.request":  # the client left: FastAPI sees what it would have seen
                await self.app(scope, replay(chunks, receive, message), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            item = PredictRequest.model_validate(json.loads(body))
        except Exception:  # noqa: BLE001 - any refusal (not JSON, too deep, invalid) is FastAPI's to word
            await self.app(scope, replay([body], receive), send)
            return
        scope["route"] = self.route  # the metrics label the template, as for a routed request
        content = predict_one_json(item, run, self.state.recorder)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(content)).encode()), (b"content-type", JSON_BYTES)]})
        await send({"type": "http.response.body", "body": content})


def replay(chunks: list[bytes], receive: Receive, then: Message | Exception | None = None) -> Receive:
    """A receive that gives the body read so far again, then `then` (a message to give, an exception to raise),
    then the real receive."""
    pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": then is not None}]

    async def replayed() -> Message:
        nonlocal then
        if pending:
            return pending.pop()
        if then is not None:
            follow, then = then, None
            if isinstance(follow, Exception):
                raise follow
            return follow
        return await receive()

    return replayed


@router.post("/batch", response_model=BatchResponse)
async def predict_batch(body: BatchRequest, run: ServingRun, request: Request) -> Response:
    rows, unseen = predict_items(run, body.items)
    request.app.state.recorder.record("batch", run.run_id, contract_inputs(body.items), rows, unseen)
    schemas = [r["input_schema"] for r in rows]
    summary: dict[str, object] = {"count": len(rows)}  # BatchSummary's order: the answer is not validated again
    for name in OUTPUT_NAMES.values():
        summary[f"avg_{name}"] = float(np.mean([r[name] for r in rows]))
    summary["with_warnings"] = sum(1 for r in rows if r["warnings"])
    summary["by_input_schema"] = {s: schemas.count(s) for s in (CONTRACT_SCHEMA, EXTENDED_SCHEMA)}
    answer = {"run_id": run.run_id, "records": rows, "summary": summary, "warnings": unknown_field_warnings(body)}
    return Response(to_json(answer, inf_nan_mode="null"), media_type=JSON)


@router.post("/simulate", response_model=SimulateResponse)
async def predict_simulate(body: SimulateRequest, run: ServingRun, request: Request) -> dict[str, object]:
    uploads = body.upload_grid()
    count = len(uploads)
    model = run.supervised
    given = extended_given(body)
    extended = len(given) == ALL_EXTENDED and EXTENDED_SCHEMA in model.regressors
    fixed = {name: [getattr(body, name)] * count for name in EXTENDED_FIELDS} if given else {}
    features = model.encode(uploads, np.full(count, body.age), [body.category] * count, [body.country] * count,
                            **fixed)
    extended_rows = np.full(count, extended) if extended else None
    predictions = model.predict_rows(features, extended_rows)
    intervals = interval_rows(run, predictions)
    columns = [(name, predictions.values[t].tolist()) for t, name in OUTPUT_NAMES.items()]
    points = [{"uploads": u, **{name: column[i] for name, column in columns}, "intervals": intervals[i]}
              for i, u in enumerate(uploads.tolist())]
    envelope = None
    if predictions.lower is not None and predictions.upper is not None and intervals[0] is not None:
        envelope = {"coverage": intervals[0]["coverage"],
                    **{name: {"lower": float(predictions.lower[t].min()), "upper": float(predictions.upper[t].max())}
                       for t, name in OUTPUT_NAMES.items()}}
    metrics = request.app.state.metrics
    metrics.by_endpoint["simulate"].inc(count)  # a sweep, not traffic: no values observed
    metrics.by_schema[predictions.schemas[0]].inc(count)
    unknown = model.unknown_inputs(features[:1], extended_rows[:1] if extended_rows is not None else None)[0]
    return {"run_id": run.run_id, "input": body.echo(), "points": points,
            "best_uploads_by_growth": int(uploads[int(np.argmax(predictions.values["growth"]))]),
            "best_uploads_by_earnings": int(uploads[int(np.argmax(predictions.values["earnings"]))]),
            "warnings": unknown_field_warnings(body) + schema_warnings(given, run)
            + unknown_warnings(unknown, {"category": body.category, "country": body.country,
                                         "channel_type": body.channel_type}),
            "input_schema": predictions.schemas[0], "intervals": envelope}


@router.post("/recommendation", response_model=RecommendationResponse)
async def predict_recommendation(item: PredictRequest, run: ServingRun, request: Request) -> dict[str, object]:
    [row], [unseen] = predict_items(run, [item])
    request.app.state.recorder.record("recommendation", run.run_id, contract_inputs([item]), [row], [unseen])
    prediction = {name: row[name] for name in OUTPUT_NAMES.values()}
    return {**row, "run_id": run.run_id, "prediction": prediction, **recommend(run, item, prediction, unseen)}
