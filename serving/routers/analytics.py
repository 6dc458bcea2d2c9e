"""Analytics from training: permutation importance and the channel archetypes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from ..dependencies import ServingRun

router = APIRouter(tags=["analytics"])


@router.get("/predict/feature-importance")
async def feature_importance(run: ServingRun, target: Literal["subscribers", "earnings", "growth"] = "earnings",
                             top_n: Annotated[int, Query(ge=1, le=20)] = 10) -> dict[str, object]:
    ranked = run.supervised.ranked_importance(target)
    return {"run_id": run.run_id, "target": target, "method": "permutation importance (drop in log1p R²)",
            "features": [{"feature": name, **values} for name, values in ranked[:top_n]]}


@router.get("/clusters/summary")
async def clusters_summary(run: ServingRun) -> dict[str, object]:
    return {"run_id": run.run_id, **run.clustering.summary()}
