"""Analytics from training: permutation importance and the channel archetypes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from ..dependencies import ServingRun
from ..schemas import ClustersResponse, FeatureImportanceResponse, InputSchema, Target

router = APIRouter(tags=["analytics"])
NO_SCHEMA = {404: {"description": "the serving run has no models for that input schema (trained before them)",
                   "content": {"application/json": {"schema": {"type": "object",
                                                               "properties": {"detail": {"type": "string"}}}}}}}


@router.get("/predict/feature-importance", response_model=FeatureImportanceResponse, responses=NO_SCHEMA)
async def feature_importance(run: ServingRun, target: Target = "subscribers",
                             top_n: Annotated[int, Query(ge=1, le=50)] = 15,
                             input_schema: Annotated[InputSchema, Query(description=(
                                 "whose models: contract (uploads, category, country, age) or extended (also "
                                 "channel_type, video_views, video_views_last_30_days)"))] = "contract",
                             ) -> dict[str, object]:
    model = run.supervised
    if input_schema not in model.schemas or input_schema not in model.feature_importance:
        raise HTTPException(404, detail=(
            f"run {run.run_id} has no {input_schema} models (its input schemas: {', '.join(model.schemas)}); "
            "retrain (yts-run) to publish a run that has them"))
    ranked = model.ranked_importance(target, input_schema)
    return {"run_id": run.run_id, "target": target, "input_schema": input_schema,
            "method": "permutation importance (drop in log1p R²)",
            "records": [{"feature": name, **values} for name, values in ranked[:top_n]]}


@router.get("/clusters/summary", response_model=ClustersResponse)
async def clusters_summary(run: ServingRun) -> dict[str, object]:
    return {"run_id": run.run_id, "records": run.clustering.summary_records(), **run.clustering.summary()}
