"""Predictions for a known channel, its inputs read from the opt-in Feast online store (`pip install -e '.[feast]'`,
then materialize the feast_online_store asset)."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, Field, ValidationError

from yts_assets.ml import feast_store

from ..dependencies import ServingRun
from ..schemas import PredictRequest, PredictResponse
from .predictions import predict_items

router = APIRouter(prefix="/channels", tags=["features"])
CHANNEL_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_store_lock = threading.Lock()


class ChannelFeatures(BaseModel):
    uploads: int | None = None
    category: str | None = None
    country: str | None = None
    age: float | None = None


class ChannelPredictionResponse(PredictResponse):
    channel_id: str
    features: ChannelFeatures = Field(description="the channel's inputs as read from the Feast online store")


def online_store(request: Request) -> Any:  # noqa: ANN401 - a feast.FeatureStore
    """The FeatureStore, created on first use and cached on app.state; 503 while feast or the store is missing."""
    state = request.app.state
    store = getattr(state, "feast_store", None)
    if store is not None:
        return store
    paths = state.config.paths
    try:
        feast_store.require_feast()
    except feast_store.FeastUnavailable as error:
        raise HTTPException(503, detail=str(error)) from error
    if not feast_store.is_materialized(paths):
        raise HTTPException(503, detail="the Feast online store has not been materialized: "
                                        "materialize the feast_online_store asset (after training_job)")
    with _store_lock:
        if getattr(state, "feast_store", None) is None:
            state.feast_store = feast_store.feature_store(paths)
        return state.feast_store


ChannelId = Annotated[str, Path(pattern=CHANNEL_ID_PATTERN, description="stable channel id, e.g. ch_…")]


@router.get("/{channel_id}/prediction", response_model=ChannelPredictionResponse, responses={
    404: {"description": "the channel is not in the Feast online store"},
    503: {"description": "feast is not installed, the online store is not materialized, or no run is served"}})
def channel_prediction(channel_id: ChannelId, run: ServingRun, request: Request) -> dict[str, object]:
    store = online_store(request)
    try:
        features = feast_store.lookup(store, channel_id)
    except Exception as error:  # noqa: BLE001 - a registry or online store that is not (fully) there yet
        raise HTTPException(503, detail=f"the Feast online store cannot be read ({type(error).__name__}): "
                                        "materialize the feast_online_store asset") from error
    if features is None:
        raise HTTPException(404, detail=f"channel {channel_id!r} is not in the Feast online store")
    try:
        item = PredictRequest(uploads=int(round(features["uploads"])), category=features["category"],
                              country=features["country"], age=int(round(features["age"])))
    except (TypeError, ValueError, ValidationError) as error:
        raise HTTPException(422, detail=f"the stored features of {channel_id!r} are not a valid model input: "
                                        f"{error}") from error
    [row], _ = predict_items(run, [item])
    return {**row, "run_id": run.run_id, "channel_id": channel_id, "features": features}
