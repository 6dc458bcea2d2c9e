"""/docs (Swagger UI) and /redoc served with no CDN: their JS, CSS and favicon come from this service.

The assets are the ones the pinned `fastapi-offline` package ships (Swagger UI 5 bundle and CSS, ReDoc 2
standalone, FastAPI's favicon). Its `FastAPIOffline` factory is not used: the routes below are FastAPI's
documented self-hosting recipe, so the files can carry a long cache header and live under ASSETS_URL.
"""

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

ASSETS_URL = "/docs-assets"
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
CACHE_CONTROL = "public, max-age=31536000, immutable"  # the files change only with the pinned package


class CachedStaticFiles(StaticFiles):
    """StaticFiles (no path outside its folder is served) whose successful answers may be cached for a year."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = CACHE_CONTROL
        return response


def install_offline_docs(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Add /docs, its OAuth2 redirect, /redoc and the assets mount to an app built with docs_url=redoc_url=None."""
    missing = [name for name in ASSET_FILES if not (ASSETS_DIR / name).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline's static folder {ASSETS_DIR} lacks {missing}")
    app.mount(ASSETS_URL, CachedStaticFiles(directory=ASSETS_DIR), name="docs-assets")
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url

    def root(request: Request) -> str:
        """Behind a proxy's prefix (uvicorn --root-path) every URL the page loads carries it."""
        return request.scope.get("root_path", "").rstrip("/")

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui_html(request: Request) -> HTMLResponse:
        prefix = root(request)
        assets = f"{prefix}{ASSETS_URL}"
        return get_swagger_ui_html(
            openapi_url=f"{prefix}{app.openapi_url}", title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{prefix}{oauth2_redirect_url}" if oauth2_redirect_url else None,
            init_oauth=app.swagger_ui_init_oauth, swagger_ui_parameters=app.swagger_ui_parameters,
            swagger_js_url=f"{assets}/swagger-ui-bundle.js", swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png")

    if oauth2_redirect_url:
        @app.get(oauth2_redirect_url, include_in_schema=False)
        async def swagger_ui_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    async def redoc_html(request: Request) -> HTMLResponse:
        prefix = root(request)
        assets = f"{prefix}{ASSETS_URL}"
        return get_redoc_html(openapi_url=f"{prefix}{app.openapi_url}", title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{assets}/redoc.standalone.js", redoc_favicon_url=f"{assets}/favicon.png",
                              with_google_fonts=False)
