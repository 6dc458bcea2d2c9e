"""The yts API: serves the registry's active run, verified before loading, hot-swapped on change.

    uvicorn serving.app:app --host 127.0.0.1 --port 8000
"""


import getpass
import hmac
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from importlib import metadata
from typing import Annotated, Literal

import numpy as np
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from threadpoolctl import threadpool_limits

from yts_assets.ml.drift import DriftSettings, drift_report
from yts_assets.ml.features import TARGETS
from yts_assets.ml.registry import RegistryError, load_registry, promote, rollback

from . import predictor
from .capture import PayloadCapture
from .config import ServingConfig
from .metrics import MetricsMiddleware, ServiceMetrics
from .schemas import (
    BatchRequest, BatchResponse, DriftCheckRequest, PredictRequest, PredictResponse, PromoteRequest,
    RecommendationResponse, RollbackRequest, SimulateRequest, SimulateResponse,
)
from .store import LoadedRun, ModelStore

OPTIONAL_PACKAGES = {"dagster": "dagster", "webserver": "dagster-webserver", "mlflow": "mlflow",
                     "dagster_mlflow": "dagster-mlflow", "optuna": "optuna"}


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def definitions_summary() -> dict[str, object]:
    """Whether the Dagster code location loads, with its jobs, sensors and schedules."""
    try:
        from yts_assets.definitions import defs

        repository = defs.get_repository_def()
        return {"loads": True, "jobs": sorted(j.name for j in repository.get_all_jobs() if not j.name.startswith("__")),
                "sensors": sorted(s.name for s in repository.sensor_defs),
                "schedules": sorted(s.name for s in repository.schedule_defs)}
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return {"loads": False, "error": f"{type(exc).__name__}: {exc}"}


def create_app(config: ServingConfig | None = None) -> FastAPI:
    config = config or ServingConfig.from_env()
    store = ModelStore(config.paths)
    metrics = ServiceMetrics()
    capture = (PayloadCapture(config.incoming_dir, max_buffer=config.capture_buffer_records,
                              rotate_records=config.capture_rotate_records, rotate_seconds=config.capture_rotate_seconds,
                              flush_seconds=config.capture_flush_seconds) if config.capture_enabled else None)
    capabilities_cache: dict[str, object] = {}

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
                  description="Predictions from the registry's active run of the yts Dagster platform.")
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.state.store, app.state.capture, app.state.metrics = store, capture, metrics

    async def serving_run() -> LoadedRun:  # async: no threadpool hop on the hot path
        run = store.current
        if run is None:
            raise HTTPException(503, detail={"ready": False, "problems": store.status.problems})
        return run

    Run = Annotated[LoadedRun, Depends(serving_run)]

    def record_inputs(run: LoadedRun, items: list[PredictRequest]) -> None:
        if capture is None:
            return
        received = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        capture.add([{**item.model_dump(), "run_id": run.run_id, "received_at": received} for item in items])

    def require_admin(authorization: Annotated[str | None, Header()] = None) -> str:
        if not config.admin_token:
            raise HTTPException(403, detail="admin endpoints are disabled: set YTS_ADMIN_TOKEN to enable them")
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), config.admin_token.encode()):
            raise HTTPException(401, detail="a valid 'Authorization: Bearer <YTS_ADMIN_TOKEN>' header is required",
                                headers={"WWW-Authenticate": "Bearer"})
        return f"api:{getpass.getuser()}"

    @app.get("/health")
    async def health() -> dict[str, object]:
        run = store.current
        return {"status": "ok", "run_id": run.run_id if run else None}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        run = store.current
        body = {"ready": store.ready, "active_run_id": store.status.active_run_id,
                "serving_run_id": run.run_id if run else None, "problems": store.status.problems}
        metrics.ready.set(1 if store.ready else 0)
        return JSONResponse(body, status_code=200 if store.ready else 503)

    @app.post("/predict", response_model=PredictResponse)
    async def predict_one(item: PredictRequest, run: Run) -> dict[str, object]:
        [row] = predictor.predict_items(run, [item])
        record_inputs(run, [item])
        metrics.predictions.labels("predict").inc()
        return {**row, "run_id": run.run_id}

    @app.post("/predict/batch", response_model=BatchResponse)
    async def predict_batch(request: BatchRequest, run: Run) -> dict[str, object]:
        rows = predictor.predict_items(run, request.items)
        record_inputs(run, request.items)
        metrics.predictions.labels("batch").inc(len(rows))
        summary = {"count": len(rows), "with_warnings": sum(1 for r in rows if r["warnings"])}
        for name in predictor.OUTPUT_NAMES.values():
            summary[f"mean_{name}"] = float(np.mean([r[name] for r in rows]))
        return {"run_id": run.run_id, "predictions": rows, "summary": summary}

    @app.post("/predict/simulate", response_model=SimulateResponse)
    async def predict_simulate(request: SimulateRequest, run: Run) -> dict[str, object]:
        if request.scale == "log":
            uploads = np.expm1(np.linspace(np.log1p(request.uploads_min), np.log1p(request.uploads_max), request.points))
        else:
            uploads = np.linspace(request.uploads_min, request.uploads_max, request.points)
        points, warnings = predictor.simulate(run, request.category, request.country, request.age, uploads)
        metrics.predictions.labels("simulate").inc(len(points))
        return {"run_id": run.run_id, "points": points, "warnings": warnings}

    @app.post("/predict/recommendation", response_model=RecommendationResponse)
    async def predict_recommendation(item: PredictRequest, run: Run) -> dict[str, object]:
        [row] = predictor.predict_items(run, [item])
        record_inputs(run, [item])
        metrics.predictions.labels("recommendation").inc()
        return {**row, "run_id": run.run_id, **predictor.recommend(run, item, row)}

    @app.get("/predict/feature-importance")
    async def feature_importance(run: Run, target: Literal["subscribers", "earnings", "growth"] = "earnings",
                                 top_n: Annotated[int, Query(ge=1, le=20)] = 10) -> dict[str, object]:
        ranked = sorted(run.supervised["feature_importance"][target].items(), key=lambda kv: -kv[1]["importance"])
        return {"run_id": run.run_id, "target": target, "method": "permutation importance (drop in log1p R²)",
                "features": [{"feature": name, **values} for name, values in ranked[:top_n]]}

    @app.get("/clusters/summary")
    async def clusters_summary(run: Run) -> dict[str, object]:
        bundle = run.clustering
        return {"run_id": run.run_id, "archetypes": bundle["archetypes"], "profiles": bundle["profiles"],
                "dbscan": bundle["dbscan_summary"], "growth_handling": bundle["growth_handling"]}

    @app.get("/mlops/manifest")
    async def manifest(run: Run) -> dict[str, object]:
        return run.manifest

    @app.get("/mlops/registry")
    async def registry() -> dict[str, object]:
        try:
            current = load_registry(config.paths)
        except RegistryError as exc:
            raise HTTPException(503, detail=str(exc)) from exc
        run = store.current
        return {**current, "serving_run_id": run.run_id if run else None}

    @app.post("/mlops/drift-check")
    async def drift_check(request: DriftCheckRequest, run: Run) -> dict[str, object]:
        settings = DriftSettings(z_threshold=request.z_threshold, min_category_frequency=request.min_category_frequency)
        report = drift_report([item.model_dump() for item in request.items], run.baseline, settings)
        return {"run_id": run.run_id, **report}

    @app.get("/mlops/capabilities")
    def capabilities() -> dict[str, object]:
        if "definitions" not in capabilities_cache:  # imports Dagster once, in the threadpool
            capabilities_cache["definitions"] = definitions_summary()
        return {
            "installed": {key: package_version(name) for key, name in OPTIONAL_PACKAGES.items()},
            "enabled": {"mlflow": os.environ.get("YTS_ENABLE_MLFLOW", "").lower() == "true",
                        "optuna": config.paths.optuna_study.is_file(),
                        "payload_capture": capture is not None, "admin_api": bool(config.admin_token)},
            "definitions": capabilities_cache["definitions"],
            "model": {"ready": store.ready, "serving_run_id": store.current.run_id if store.current else None},
        }

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        if capture:
            metrics.capture_dropped.set(capture.dropped)
            metrics.capture_errors.set(capture.errors)
        metrics.ready.set(1 if store.ready else 0)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # Sync handlers run in the threadpool: loading a run must not stall predictions.
    @app.post("/mlops/registry/promote")
    def promote_run(request: PromoteRequest, actor: Annotated[str, Depends(require_admin)]) -> dict[str, object]:
        try:
            updated = promote(config.paths, request.run_id, reason=request.reason, actor=actor)
        except RegistryError as exc:
            raise HTTPException(409, detail=str(exc)) from exc
        store.refresh()
        return {"active_run_id": updated["active_run_id"], "serving_run_id": store.current.run_id if store.current else None}

    @app.post("/mlops/registry/rollback")
    def rollback_run(request: RollbackRequest, actor: Annotated[str, Depends(require_admin)]) -> dict[str, object]:
        try:
            updated = rollback(config.paths, reason=request.reason, actor=actor)
        except RegistryError as exc:
            raise HTTPException(409, detail=str(exc)) from exc
        store.refresh()
        return {"active_run_id": updated["active_run_id"], "serving_run_id": store.current.run_id if store.current else None}

    return app


app = create_app()
