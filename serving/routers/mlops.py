"""MLOps: the served manifest, the registry, drift checks and what this installation can do."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from yts_assets.core import config
from yts_assets.core.manifest import with_contract_keys
from yts_assets.core.registry import RegistryError, load_registry
from yts_assets.ml.drift import drift_report
from yts_assets.ml.policy import DriftThresholds

from ..capabilities import capability_groups, flag_enabled, installed_packages, tracking_enabled
from ..dependencies import ServingRun
from ..schemas import Capabilities, DriftCheckRequest, DriftCheckResponse, Manifest, Registry, unknown_field_warnings

router = APIRouter(prefix="/mlops", tags=["mlops"])


@router.get("/manifest", response_model=Manifest, responses={404: {"description": "no run is being served"}})
async def manifest(request: Request) -> dict[str, object]:
    store = request.app.state.store
    run = store.current
    if run is None:
        raise HTTPException(404, detail="no manifest: no run is being served (" + "; ".join(store.status.problems) + ")")
    return with_contract_keys(run.manifest)


@router.get("/registry", response_model=Registry, responses={404: {"description": "no registry yet"}})
async def registry(request: Request) -> dict[str, object]:
    paths = request.app.state.config.paths
    if not paths.model_registry.is_file():
        raise HTTPException(404, detail=f"no registry at {paths.model_registry}: run the main job (yts-run)")
    try:
        current = load_registry(paths)
    except RegistryError as exc:
        raise HTTPException(503, detail=str(exc)) from exc
    run = request.app.state.store.current
    return {**current, "serving_run_id": run.run_id if run else None}


@router.post("/drift-check", response_model=DriftCheckResponse)
async def drift_check(body: DriftCheckRequest, run: ServingRun) -> dict[str, object]:
    thresholds = DriftThresholds(z_threshold=body.z_threshold, min_category_frequency=body.min_category_frequency)
    report = drift_report([item.inputs() for item in body.items], run.baseline, thresholds)
    warnings = unknown_field_warnings(body)
    for index, item in enumerate(body.items):
        warnings += unknown_field_warnings(item, f"items[{index}]")
    return {"run_id": run.run_id, **report, "warnings": warnings}


@router.get("/capabilities", response_model=Capabilities)
def capabilities(request: Request) -> dict[str, object]:  # sync: the first call lists the definitions in the threadpool
    state = request.app.state
    store = state.store
    definitions = state.definitions.summary()
    return {
        **capability_groups(state.config.paths.root, definitions, state.config.paths.artifact_dir),
        "installed": installed_packages(),
        "enabled": {"mlflow": tracking_enabled(), "wandb": flag_enabled(config.ENABLE_WANDB), "optuna": state.config.paths.optuna_storage.is_file(),
                    "payload_capture": state.capture is not None, "admin_api": bool(state.config.admin_token)},
        "definitions": definitions,
        "model": {"ready": store.ready, "serving_run_id": store.current.run_id if store.current else None},
    }
