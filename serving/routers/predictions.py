"""Predictions: single, batch, simulated ranges and recommendations, from the serving run's models.

Each row is served by the richest input schema whose inputs it gives in full: `extended` when channel_type,
video_views and video_views_last_30_days are all given and the run has extended models, else `contract`. The
response names it (`input_schema`) and carries the run's prediction intervals (`intervals`, null for a run
trained without them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from fastapi import APIRouter, Request

from yts_assets.ml.features import CONTRACT_SCHEMA, EXTENDED_SCHEMA
from yts_assets.ml.models import Predictions

from ..advice import recommend
from ..dependencies import ServingRun, record_inputs
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


@router.post("", response_model=PredictResponse)
async def predict_one(item: PredictRequest, run: ServingRun, request: Request) -> dict[str, object]:
    [row], unseen = predict_items(run, [item])
    record_inputs(request, run, [item])
    request.app.state.metrics.observe("predict", [row], unseen)
    return {**row, "run_id": run.run_id}


@router.post("/batch", response_model=BatchResponse)
async def predict_batch(body: BatchRequest, run: ServingRun, request: Request) -> dict[str, object]:
    rows, unseen = predict_items(run, body.items)
    record_inputs(request, run, body.items)
    request.app.state.metrics.observe("batch", rows, unseen)
    schemas = [r["input_schema"] for r in rows]
    summary: dict[str, object] = {"count": len(rows), "with_warnings": sum(1 for r in rows if r["warnings"]),
                                  "by_input_schema": {s: schemas.count(s) for s in (CONTRACT_SCHEMA, EXTENDED_SCHEMA)}}
    for name in OUTPUT_NAMES.values():
        summary[f"avg_{name}"] = float(np.mean([r[name] for r in rows]))
    return {"run_id": run.run_id, "records": rows, "summary": summary, "warnings": unknown_field_warnings(body)}


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
    metrics.predictions.labels("simulate").inc(count)  # a sweep, not traffic: no values observed
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
    record_inputs(request, run, [item])
    request.app.state.metrics.observe("recommendation", [row], [unseen])
    prediction = {name: row[name] for name in OUTPUT_NAMES.values()}
    return {**row, "run_id": run.run_id, "prediction": prediction, **recommend(run, item, prediction, unseen)}
