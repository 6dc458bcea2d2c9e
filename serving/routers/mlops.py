"""MLOps: the served manifest, the registry, drift checks and what this installation can do."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from yts_assets.core.registry import RegistryError, load_registry
from yts_assets.ml.drift import drift_report
from yts_assets.ml.policy import DriftThresholds

from ..capabilities import installed_packages, tracking_enabled
from ..dependencies import ServingRun
from ..schemas import DriftCheckRequest

router = APIRouter(prefix="/mlops", tags=["mlops"])


@router.get("/manifest")
async def manifest(run: ServingRun) -> dict[str, object]:
    return run.manifest


@router.get("/registry")
async def registry(request: Request) -> dict[str, object]:
    try:
        current = load_registry(request.app.state.config.paths)
    except RegistryError as exc:
        raise HTTPException(503, detail=str(exc)) from exc
    run = request.app.state.store.current
    return {**current, "serving_run_id": run.run_id if run else None}


@router.post("/drift-check")
async def drift_check(body: DriftCheckRequest, run: ServingRun) -> dict[str, object]:
    thresholds = DriftThresholds(z_threshold=body.z_threshold, min_category_frequency=body.min_category_frequency)
    report = drift_report([item.model_dump() for item in body.items], run.baseline, thresholds)
    return {"run_id": run.run_id, **report}


@router.get("/capabilities")
def capabilities(request: Request) -> dict[str, object]:  # sync: the first call lists the definitions in the threadpool
    state = request.app.state
    store = state.store
    return {
        "installed": installed_packages(),
        "enabled": {"mlflow": tracking_enabled(), "optuna": state.config.paths.optuna_storage.is_file(),  # a search has run
                    "payload_capture": state.capture is not None, "admin_api": bool(state.config.admin_token)},
        "definitions": state.definitions.summary(),
        "model": {"ready": store.ready, "serving_run_id": store.current.run_id if store.current else None},
    }
