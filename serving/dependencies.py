"""Request dependencies, all from `app.state`: the serving run, payload capture and the admin token."""

from __future__ import annotations

import getpass
import hmac
from datetime import datetime, timezone
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from .schemas import EXTENDED_FIELDS, PredictRequest
from .store import LoadedRun

# What `ChannelInput.inputs()` returns, dumped by pydantic: no call into another project file on the hot path.
INPUT_FIELDS = frozenset(PredictRequest.model_fields) - frozenset(EXTENDED_FIELDS)


async def serving_run(request: Request) -> LoadedRun:  # async: no threadpool hop on the hot path
    store = request.app.state.store
    run = store.current
    if run is None:
        raise HTTPException(503, detail={"ready": False, "problems": store.status.problems})
    return run


ServingRun = Annotated[LoadedRun, Depends(serving_run)]


def record_inputs(request: Request, run: LoadedRun, items: list[PredictRequest]) -> None:
    """Into the traffic-drift window, and into payload capture when it is on: the four contract inputs only
    (never the extended inputs, nor the unknown fields a client sent)."""
    inputs = [item.model_dump(include=INPUT_FIELDS) for item in items]
    state = request.app.state
    state.traffic.add(inputs)
    if state.capture is None:
        return
    received = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    state.capture.add([{**record, "run_id": run.run_id, "received_at": received} for record in inputs])


def require_admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    token = request.app.state.config.admin_token
    if not token:
        raise HTTPException(403, detail="admin endpoints are disabled: set YTS_ADMIN_TOKEN to enable them")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, detail="a valid 'Authorization: Bearer <YTS_ADMIN_TOKEN>' header is required",
                            headers={"WWW-Authenticate": "Bearer"})
    return f"api:{getpass.getuser()}"


AdminActor = Annotated[str, Depends(require_admin)]
