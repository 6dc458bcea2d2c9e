"""Prometheus metrics with bounded labels: route template, method, status."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("yts_http_requests_total", "HTTP requests", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("yts_http_request_duration_seconds", "HTTP request latency", ["route", "method"],
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
                                 registry=self.registry)
        self.predictions = Counter("yts_predictions_total", "Rows predicted", ["endpoint"], registry=self.registry)
        self.ready = Gauge("yts_model_ready", "1 when the registry's active run is loaded and verified",
                           registry=self.registry)
        self.capture_dropped = Gauge("yts_capture_dropped_records", "Payload records dropped: buffer full",
                                     registry=self.registry)
        self.capture_errors = Gauge("yts_capture_write_errors", "Payload capture write errors", registry=self.registry)


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
