"""Error responses: a malformed request gets a 4xx JSON body naming the field, never a 500.

FastAPI's default 422 handler echoes each error's input back; NaN, infinities and unpaired surrogates
cannot be encoded, so the echo itself failed with a 500. Here the input is dropped and the rest made
encodable. A body over the limit gets a 413 before it is parsed, an unexpected exception a short JSON
500, logged.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .middleware import MAX_BODY_BYTES

DETAIL = {"application/json": {"schema": {"type": "object", "properties": {"detail": {"type": "string"}},
                                          "required": ["detail"]}}}
BODY_ERRORS = {"400": {"description": "Unreadable body: not UTF-8, nested too deep, a number too long",
                       "content": DETAIL},
               "413": {"description": f"Body over {MAX_BODY_BYTES} bytes", "content": DETAIL}}
log = logging.getLogger("yts.serving.errors")


def document_body_errors(app: FastAPI) -> None:
    """The framework's 400 and the middleware's 413 come from no handler: add them to each operation with a body."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        for item in schema["paths"].values():
            for operation in item.values():
                if "requestBody" in operation:
                    operation["responses"].update(BODY_ERRORS)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def encodable(value: object) -> object:
    """JSON-safe: None, bools, finite numbers as they are; anything else as text, unpaired surrogates escaped."""
    if value is None or isinstance(value, bool) or (isinstance(value, int) and abs(value) < 2**53) or (
            isinstance(value, float) and math.isfinite(value)):
        return value
    text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def field_error(error: dict[str, Any]) -> dict[str, Any]:
    """One pydantic error without its `input`; loc, msg and ctx made encodable."""
    safe = {"loc": [encodable(part) for part in error["loc"]], "msg": encodable(error["msg"]), "type": error["type"]}
    if error.get("ctx"):
        safe["ctx"] = {str(encodable(key)): encodable(value) for key, value in error["ctx"].items()}
    return safe


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """422 {"detail": [{"loc", "msg", "type", "ctx"?}]}: the field's path, never the value that was sent."""
    return JSONResponse({"detail": [field_error(error) for error in exc.errors()]}, status_code=422)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette re-raises after this response is sent, so the server logs the traceback too."""
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)
