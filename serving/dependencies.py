"""Request dependencies, all from `app.state`: the serving run and the admin token."""

from __future__ import annotations

import getpass
import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from .store import LoadedRun


async def serving_run(request: Request) -> LoadedRun:  # async: no threadpool hop on the hot path
    store = request.app.state.store
    run = store.current
    if run is None:
        raise HTTPException(503, detail={"ready": False, "problems": store.status.problems})
    return run


ServingRun = Annotated[LoadedRun, Depends(serving_run)]


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
