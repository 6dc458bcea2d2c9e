"""MLOps: the served manifest, the registry, drift checks and what this installation can do."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from yts_assets.core import config
from yts_assets.core.manifest import with_contract_keys
from yts_assets.core.registry import RegistryError, load_registry
from yts_assets.ml.drift import drift_report
from yts_assets.ml.policy import DriftThresholds

from ..capabilities import capability_groups, flag_enabled, installed_packages, tracking_enabled
from ..dependencies import ServingRun
from ..schemas import Capabilities, DriftCheckRequest, DriftCheckResponse, Manifest, Registry, unknown_field_warnings
from .insights import matches

router = APIRouter(prefix="/mlops", tags=["mlops"])
MARKDOWN = "text/markdown; charset=utf-8"
DETAIL = {"application/json": {"schema": {"type": "object", "properties": {"detail": {"type": "string"}}}}}
MODEL_CARD_RESPONSES = {
    200: {"description": "the serving run's model card (markdown); its ETag is the sha256 the run's manifest records",
          "content": {"text/markdown": {"schema": {"type": "string"}}}},
    304: {"description": "not modified (If-None-Match matched the ETag)"},
    404: {"description": "the serving run was published without a model card: retrain (yts-run)", "content": DETAIL},
    503: {"description": "no run is being served (`detail`: {ready, problems})"},
}


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


@router.get("/model-card", response_class=Response, responses=MODEL_CARD_RESPONSES)
async def model_card(run: ServingRun, request: Request) -> Response:
    """The serving run's model card: data, inputs per schema, metrics, intervals, known limits and the gate."""
    card = run.model_card
    if card is None:
        raise HTTPException(404, detail=(
            f"run {run.run_id} was published without a model card (before model cards were written with every "
            "run); retrain (yts-run) to publish a run that has one. Predictions are not affected."))
    etag = f'"{card.sha256}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
               "X-YTS-Run-Id": run.run_id}
    if matches(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(card.text, media_type=MARKDOWN, headers=headers)


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
        "enabled": {"mlflow": tracking_enabled(), "wandb": flag_enabled(config.ENABLE_WANDB),
                    # studies live in YTS_OPTUNA_STORAGE (any SQLAlchemy URL) or in the local SQLite file
                    "optuna": config.OPTUNA_STORAGE.is_set() or state.config.paths.optuna_storage.is_file(),
                    "payload_capture": state.capture is not None, "admin_api": bool(state.config.admin_token)},
        "definitions": definitions,
        "model": {"ready": store.ready, "serving_run_id": store.current.run_id if store.current else None},
    }
