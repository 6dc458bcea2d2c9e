"""The yts API: serves the registry's active run, verified before loading, hot-swapped on change.

    uvicorn serving.app:app --host 127.0.0.1 --port 8000
"""

import gc
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
from .multiprocess import server_dir
from .observability import PayloadCapture, Recorder, ServiceMetrics, ServingCollector, TrafficWindow
from .routers import admin, analytics, features, insights, mlops, ops, predictions
from .store import ModelStore


def create_app(config: ServingConfig | None = None) -> FastAPI:
    config = config or ServingConfig.from_env()
    if config.multiprocess_server_pid is not None:  # a worker of `uvicorn --workers N`: the server's metrics folder
        server_dir(config.multiprocess_dir.parent, config.multiprocess_server_pid)  # type: ignore[union-attr]
    metrics = ServiceMetrics(config.multiprocess_dir)
    loaded = [0]

    def after_refresh(current: ModelStore) -> None:
        metrics.served(current)
        if config.freeze_heap and current.swaps != loaded[0]:
            loaded[0] = current.swaps
            settle_heap()

    store = ModelStore(config.paths, listener=after_refresh)
    capture = (PayloadCapture(config.incoming_dir, max_buffer=config.capture_buffer_records,
                              rotate_records=config.capture_rotate_records, rotate_seconds=config.capture_rotate_seconds,
                              flush_seconds=config.capture_flush_seconds, counters=metrics.capture_counters())
               if config.capture_enabled else None)
    traffic = TrafficWindow(shared_dir=config.multiprocess_dir)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # One row per call: OpenMP thread start-up would cost more than the trees.
        limiter = threadpool_limits(limits=1)
        store.poll_once()
        store.start_watching(config.registry_poll_seconds)
        if capture:
            capture.start()
        traffic.start()
        try:
            yield
        finally:
            store.stop()
            traffic.stop()
            if capture:
                capture.stop()
            limiter.restore_original_limits()

    app = FastAPI(title="yts", version=package_version("yts") or "dev", lifespan=lifespan,
                  description="Predictions from the registry's active run of the yts Dagster platform.",
                  docs_url=None, redoc_url=None)  # served by install_offline_docs, without a CDN
    install_offline_docs(app)
    app.state.config, app.state.store, app.state.capture = config, store, capture
    app.state.metrics, app.state.definitions, app.state.traffic = metrics, DefinitionsSummary(), traffic
    app.state.recorder = Recorder(metrics, traffic, capture)
    metrics.registry.register(ServingCollector(metrics, store, traffic))
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
    app.add_middleware(predictions.PredictFastPath, state=app.state)  # innermost: counted and bounded like the rest
    app.add_middleware(BodyLimitMiddleware)  # inside the metrics: a 413 is counted
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    for router in (ops.router, predictions.router, features.router, analytics.router, insights.router, mlops.router,
                   admin.router):
        app.include_router(router)
    document_body_errors(app)
    return app


def settle_heap() -> None:
    """Once a run is loaded: collect once, then freeze what is alive (libraries, the app, the run) into the permanent
    generation. Otherwise every full collection walks those ~200,000 objects (150 ms on a reference machine),
    and requests trigger one whenever enough of their objects have survived (a /predict/batch of 500 did, each
    time: it answers twice as fast frozen). Unfrozen first, so the run just replaced is collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def __getattr__(name: str) -> FastAPI:
    """`uvicorn serving.app:app` builds the app on first use, so the environment is read then, not at import."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()["app"] = created = create_app()
    return created
