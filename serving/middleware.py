"""App-wide ASGI middleware, run for every route: HTTP metrics, and the request body limit."""

from __future__ import annotations

import time
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .observability import ServiceMetrics

MAX_BODY_BYTES = 1024 * 1024
MAX_CACHED_LABELS = 1024


class MetricsMiddleware:
    """Pure ASGI middleware: labels by the matched route's template, never the raw path. The counter and histogram
    children of each (template, method, status) are resolved once, not per request."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def children(self, template: str, method: str, status: int) -> tuple[Any, Any]:
        key = (template, method, status)
        found = self._children.get(key)
        if found is None:
            found = (self.metrics.requests.labels(template, method, str(status)),
                     self.metrics.latency.labels(template, method))
            if len(self._children) < MAX_CACHED_LABELS:  # methods are whatever clients send: bound the cache
                self._children[key] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        counted = False

        def count() -> None:
            nonlocal counted
            counted = True
            route = scope.get("route")
            requests, latency = self.children(getattr(route, "path", None) or "unmatched", scope["method"], status)
            requests.inc()
            latency.observe(time.perf_counter() - started)

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False) and not counted:
                count()  # before the last byte leaves: a client that has its answer finds it counted
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            if not counted:  # no complete answer (an exception before it, a client gone)
                count()


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
