"""The yts API: serves the registry's active run, verified before loading, hot-swapped on change.

    uvicorn serving.app:app --host 127.0.0.1 --port 8000
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from threadpoolctl import threadpool_limits

from .capabilities import DefinitionsSummary, package_version
from .config import ServingConfig
from .docs import install_offline_docs
from .errors import document_body_errors, unexpected_error, validation_error
from .middleware import BodyLimitMiddleware, MetricsMiddleware
from .observability import PayloadCapture, ServiceMetrics, ServingCollector, TrafficWindow
from .routers import admin, analytics, features, insights, mlops, ops, predictions
from .store import ModelStore


def create_app(config: ServingConfig | None = None) -> FastAPI:
    config = config or ServingConfig.from_env()
    store = ModelStore(config.paths)
    capture = (PayloadCapture(config.incoming_dir, max_buffer=config.capture_buffer_records,
                              rotate_records=config.capture_rotate_records, rotate_seconds=config.capture_rotate_seconds,
                              flush_seconds=config.capture_flush_seconds) if config.capture_enabled else None)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # One row per call: OpenMP thread start-up would cost more than the trees.
        limiter = threadpool_limits(limits=1)
        store.poll_once()
        store.start_watching(config.registry_poll_seconds)
        if capture:
            capture.start()
        try:
            yield
        finally:
            store.stop()
            if capture:
                capture.stop()
            limiter.restore_original_limits()

    app = FastAPI(title="yts", version=package_version("yts") or "dev", lifespan=lifespan,
                  description="Predictions from the registry's active run of the yts Dagster platform.",
                  docs_url=None, redoc_url=None)  # served by install_offline_docs, without a CDN
    install_offline_docs(app)
    app.state.config, app.state.store, app.state.capture = config, store, capture
    app.state.metrics, app.state.definitions, app.state.traffic = ServiceMetrics(), DefinitionsSummary(), TrafficWindow()
    app.state.metrics.registry.register(ServingCollector(store, capture, app.state.traffic))
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
    app.add_middleware(BodyLimitMiddleware)  # inside the metrics: a 413 is counted
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    for router in (ops.router, predictions.router, features.router, analytics.router, insights.router, mlops.router,
                   admin.router):
        app.include_router(router)
    document_body_errors(app)
    return app


def __getattr__(name: str) -> FastAPI:
    """`uvicorn serving.app:app` builds the app on first use, so the environment is read then, not at import."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()["app"] = created = create_app()
    return created
