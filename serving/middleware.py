"""App-wide ASGI middleware, run for every route: HTTP metrics, and the request body limit."""

from __future__ import annotations

import time

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .observability import ServiceMetrics

MAX_BODY_BYTES = 1024 * 1024


class MetricsMiddleware:
    """Pure ASGI middleware: labels by the matched route's template, never the raw path."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - started)


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, detail=f"request body is larger than {limit} bytes")


class BodyLimitMiddleware:
    """Pure ASGI: 413 for a body over `max_bytes`, by Content-Length before the app runs, then counted as it streams."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), b"")
        if declared.isdigit() and (len(declared) > 15 or int(declared) > self.max_bytes):
            error = too_large(self.max_bytes)
            await JSONResponse({"detail": error.detail}, status_code=error.status_code)(scope, receive, send)
            return
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise too_large(self.max_bytes)  # inside the app: its HTTPException handler answers in JSON
            return message

        await self.app(scope, bounded_receive, send)
