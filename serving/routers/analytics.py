"""Analytics from training: permutation importance and the channel archetypes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ..dependencies import ServingRun
from ..schemas import ClustersResponse, FeatureImportanceResponse, Target

router = APIRouter(tags=["analytics"])


@router.get("/predict/feature-importance", response_model=FeatureImportanceResponse)
async def feature_importance(run: ServingRun, target: Target = "subscribers",
                             top_n: Annotated[int, Query(ge=1, le=50)] = 15) -> dict[str, object]:
    ranked = run.supervised.ranked_importance(target)
    return {"run_id": run.run_id, "target": target, "method": "permutation importance (drop in log1p R²)",
            "records": [{"feature": name, **values} for name, values in ranked[:top_n]]}


@router.get("/clusters/summary", response_model=ClustersResponse)
async def clusters_summary(run: ServingRun) -> dict[str, object]:
    return {"run_id": run.run_id, "records": run.clustering.summary_records(), **run.clustering.summary()}
