"""Predictions: single, batch, simulated ranges and recommendations, from the serving run's models."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from fastapi import APIRouter, Request

from ..advice import recommend
from ..dependencies import ServingRun, record_inputs
from ..schemas import (
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


def unknown_warnings(unknown: list[str], category: str, country: str) -> list[str]:
    values = {"category": category, "country": country}
    return [f"{name} {values[name]!r} is not in the training vocabulary; the model treats it as unknown"
            for name in unknown]


def predict_items(run: LoadedRun, items: Sequence[PredictRequest]) -> tuple[list[dict[str, object]], list[list[str]]]:
    """One vectorized call for any number of rows: (rows with their own warnings, unseen inputs per row)."""
    model = run.supervised
    features = model.encode([i.uploads for i in items], [i.age for i in items],
                            [i.category for i in items], [i.country for i in items])
    predictions = model.predict_encoded(features)
    unknown = model.unknown_inputs(features)
    rows = [{**{OUTPUT_NAMES[t]: float(values[index]) for t, values in predictions.items()},
             "warnings": (unknown_field_warnings(item) if item.model_extra else [])
             + unknown_warnings(unknown[index], item.category, item.country)}
            for index, item in enumerate(items)]
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
    summary: dict[str, object] = {"count": len(rows), "with_warnings": sum(1 for r in rows if r["warnings"])}
    for name in OUTPUT_NAMES.values():
        summary[f"avg_{name}"] = float(np.mean([r[name] for r in rows]))
    return {"run_id": run.run_id, "records": rows, "summary": summary, "warnings": unknown_field_warnings(body)}


@router.post("/simulate", response_model=SimulateResponse)
async def predict_simulate(body: SimulateRequest, run: ServingRun, request: Request) -> dict[str, object]:
    uploads = body.upload_grid()
    count = len(uploads)
    model = run.supervised
    features = model.encode(uploads, np.full(count, body.age), [body.category] * count, [body.country] * count)
    predictions = model.predict_encoded(features)
    points = [{"uploads": int(u), **{OUTPUT_NAMES[t]: float(v[i]) for t, v in predictions.items()}}
              for i, u in enumerate(uploads)]
    request.app.state.metrics.predictions.labels("simulate").inc(count)  # a sweep, not traffic: no values observed
    return {"run_id": run.run_id, "input": body.echo(), "points": points,
            "best_uploads_by_growth": int(uploads[int(np.argmax(predictions["growth"]))]),
            "best_uploads_by_earnings": int(uploads[int(np.argmax(predictions["earnings"]))]),
            "warnings": unknown_field_warnings(body)
            + unknown_warnings(model.unknown_inputs(features[:1])[0], body.category, body.country)}


@router.post("/recommendation", response_model=RecommendationResponse)
async def predict_recommendation(item: PredictRequest, run: ServingRun, request: Request) -> dict[str, object]:
    [row], [unseen] = predict_items(run, [item])
    record_inputs(request, run, [item])
    request.app.state.metrics.observe("recommendation", [row], [unseen])
    prediction = {name: row[name] for name in OUTPUT_NAMES.values()}
    return {**row, "run_id": run.run_id, "prediction": prediction, **recommend(run, item, prediction, unseen)}
