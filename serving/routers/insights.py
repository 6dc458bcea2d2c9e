"""Analytics, data samples and world maps of the serving run: computed by the `channel_insights` and
`channel_maps` assets when the run was trained, published with it, and loaded once from its verified bytes
(`store.load_insights`). No request reads a CSV.

The map pages load plotly.js and the map outlines from `assets/` relative to themselves; both are served here
from two fixed files (the installed plotly package's plotly.min.js and the vendored topojson), never from a
path a request names.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from yts_assets.ml.maps import WORLD_TOPOJSON, plotly_js_file

from ..dependencies import ServingRun
from ..insight_schemas import (
    CategoryPerformanceResponse,
    CountryMetricsResponse,
    ProcessedSampleResponse,
    RawSampleResponse,
    UploadGrowthBucketsResponse,
)
from ..store import LoadedRun, RunInsights

router = APIRouter(tags=["insights"])
NOT_PUBLISHED = {404: {"description": "the serving run was published without analytics and maps: retrain (yts-run)",
                       "content": {"application/json": {"schema": {"type": "object",
                                                                   "properties": {"detail": {"type": "string"}}}}}}}
# The map pages run plotly's inline script and styles, and fetch only from this origin.
MAP_POLICY = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
              "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'")
ASSET_MAX_AGE = 7 * 24 * 3600  # a fixed URL, so not `immutable`: the ETag revalidates after an upgrade


@dataclass(frozen=True)
class Served:
    run: LoadedRun
    insights: RunInsights


async def served_insights(run: ServingRun) -> Served:
    if run.insights is None:
        raise HTTPException(404, detail=(
            f"run {run.run_id} was published without channel insights and maps (before they were computed with "
            "every run); retrain (yts-run) to publish a run that has them. Predictions are not affected."))
    return Served(run, run.insights)


ServedInsights = Annotated[Served, Depends(served_insights)]


@router.get("/maps/country-metrics", response_model=CountryMetricsResponse, responses=NOT_PUBLISHED)
async def country_metrics(served: ServedInsights) -> dict[str, object]:
    return {"run_id": served.run.run_id, "records": served.insights.tables["country_metrics"]}


@router.get("/data/raw-sample", response_model=RawSampleResponse, responses=NOT_PUBLISHED)
async def raw_sample(served: ServedInsights, limit: Annotated[int, Query(ge=1, le=200)] = 10) -> dict[str, object]:
    return {"run_id": served.run.run_id, "records": served.insights.tables["raw_sample"][:limit]}


@router.get("/data/processed-sample", response_model=ProcessedSampleResponse, responses=NOT_PUBLISHED)
async def processed_sample(served: ServedInsights,
                           limit: Annotated[int, Query(ge=1, le=1000)] = 10) -> dict[str, object]:
    return {"run_id": served.run.run_id, "records": served.insights.tables["processed_sample"][:limit]}


@router.get("/analytics/category-performance", response_model=CategoryPerformanceResponse, responses=NOT_PUBLISHED)
async def category_performance(served: ServedInsights,
                               top_n: Annotated[int, Query(ge=3, le=30)] = 12) -> dict[str, object]:
    return {"run_id": served.run.run_id, "records": served.insights.tables["category_performance"][:top_n]}


@router.get("/analytics/upload-growth-buckets", response_model=UploadGrowthBucketsResponse, responses=NOT_PUBLISHED)
async def upload_growth_buckets(served: ServedInsights) -> dict[str, object]:
    return {"run_id": served.run.run_id, "records": served.insights.tables["upload_growth_buckets"]}


def matches(request: Request, etag: str) -> bool:
    given = request.headers.get("if-none-match", "")
    return given.strip() == "*" or etag in {tag.strip() for tag in given.split(",")}


def map_page(request: Request, served: Served, name: str) -> Response:
    """The run's map page; revalidated on every use (the serving run may change), its ETag the manifest's sha256."""
    etag = f'"{served.insights.etags[name]}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Content-Security-Policy": MAP_POLICY,
               "X-Content-Type-Options": "nosniff", "X-YTS-Run-Id": served.run.run_id}
    if matches(request, etag):
        return Response(status_code=304, headers=headers)
    return HTMLResponse(served.insights.maps[name], headers=headers)


@router.get("/maps/influence-map", response_class=HTMLResponse, responses=NOT_PUBLISHED)
async def influence_map(request: Request, served: ServedInsights) -> Response:
    """World map of channel influence: channels at their country, sized by subscribers, coloured by category."""
    return map_page(request, served, "influence_map")


@router.get("/maps/earnings-choropleth", response_class=HTMLResponse, responses=NOT_PUBLISHED)
async def earnings_choropleth(request: Request, served: ServedInsights) -> Response:
    """Choropleth of the channels' total yearly earnings by country (log scale)."""
    return map_page(request, served, "earnings_choropleth")


@router.get("/maps/category-dominance", response_class=HTMLResponse, responses=NOT_PUBLISHED)
async def category_dominance(request: Request, served: ServedInsights) -> Response:
    """The dominant category of each country, by summed subscribers."""
    return map_page(request, served, "category_dominance_map")


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    gzipped: bytes
    sha256: str
    media_type: str

    @classmethod
    def read(cls, path: Path, media_type: str) -> StaticFile:
        body = path.read_bytes()
        return cls(body, gzip.compress(body, 6, mtime=0), hashlib.sha256(body).hexdigest(), media_type)


@functools.cache
def plotly_js() -> StaticFile:
    return StaticFile.read(plotly_js_file(), "text/javascript; charset=utf-8")


@functools.cache
def world_topojson() -> StaticFile:
    return StaticFile.read(WORLD_TOPOJSON, "application/json")


def static_response(request: Request, asset: StaticFile) -> Response:
    """The file, gzipped when the client accepts it (each form has its own ETag), cached for a week."""
    zipped = "gzip" in request.headers.get("accept-encoding", "").lower()
    etag = f'"{asset.sha256[:32]}{"-gzip" if zipped else ""}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={ASSET_MAX_AGE}", "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff"}
    if matches(request, etag):
        return Response(status_code=304, headers=headers)
    if zipped:
        return Response(asset.gzipped, media_type=asset.media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/maps/assets/plotly.min.js", response_class=Response, include_in_schema=False)
def plotly_script(request: Request) -> Response:  # sync: the first call reads and compresses 4.8 MB off the event loop
    return static_response(request, plotly_js())


@router.get("/maps/assets/topojson/world_110m.json", response_class=Response, include_in_schema=False)
def world_outlines(request: Request) -> Response:
    return static_response(request, world_topojson())
