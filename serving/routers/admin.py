"""Admin: promote and roll back, behind `Authorization: Bearer $YTS_ADMIN_TOKEN`."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from yts_assets.core.registry import RegistryError, promote, rollback

from ..dependencies import AdminActor
from ..schemas import PromoteRequest, RegistryChange, RollbackRequest

router = APIRouter(prefix="/mlops/registry", tags=["admin"])


def swapped(request: Request, registry: dict[str, object]) -> dict[str, object]:
    store = request.app.state.store
    store.refresh()
    return {"active_run_id": registry["active_run_id"], "serving_run_id": store.current.run_id if store.current else None}


# Sync handlers run in the threadpool: loading a run must not stall predictions.
@router.post("/promote", response_model=RegistryChange)
def promote_run(body: PromoteRequest, actor: AdminActor, request: Request) -> dict[str, object]:
    try:
        registry = promote(request.app.state.config.paths, body.run_id, reason=body.reason, actor=actor)
    except RegistryError as exc:
        raise HTTPException(409, detail=str(exc)) from exc
    return swapped(request, registry)


@router.post("/rollback", response_model=RegistryChange)
def rollback_run(body: RollbackRequest, actor: AdminActor, request: Request) -> dict[str, object]:
    try:
        registry = rollback(request.app.state.config.paths, reason=body.reason, actor=actor)
    except RegistryError as exc:
        raise HTTPException(409, detail=str(exc)) from exc
    return swapped(request, registry)
