"""/docs and /redoc need no internet: their JS, CSS and favicon come from the service (serving/docs.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.config import ServingConfig
from serving.docs import ASSETS_URL, CACHE_CONTROL
from tests.servers import uvicorn_yts
from yts_assets.core.paths import ProjectPaths

CHROMIUM = "/usr/bin/chromium"
CONTENT_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",), ".png": ("image/png",)}


class References(HTMLParser):
    """Every script src, link href and img src of a page, plus the URLs its inline scripts name."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        self.urls += [value for name, value in attrs if name == wanted and value]
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:  # e.g. SwaggerUIBundle({url: '/openapi.json', oauth2RedirectUrl: ...})
            self.urls += re.findall(r"""['"]((?:https?:)?//[^'"]+)['"]""", data)


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("docs")
    empty = ProjectPaths(root=root, artifact_dir=root / "artifacts")
    app = create_app(ServingConfig(paths=empty, capture_dir=root / "incoming", registry_poll_seconds=60))
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_every_asset_from_the_service(client, page):
    response = client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    parser = References()
    parser.feed(response.text)
    assert parser.urls, "no script or stylesheet found in the page"
    external = [url for url in parser.urls if re.match(r"(https?:)?//", url)]
    assert not external, f"{page} loads from outside the service: {external}"
    assets = [url for url in parser.urls if url.startswith(f"{ASSETS_URL}/")]
    assert any(url.endswith(".js") for url in assets) and any(url.endswith(".png") for url in assets)
    for url in assets:
        asset = client.get(url)
        assert asset.status_code == 200, url
        kind = asset.headers["content-type"].split(";")[0]
        assert kind in CONTENT_TYPES[os.path.splitext(url)[1]], (url, kind)
        assert asset.headers["cache-control"] == CACHE_CONTROL
        assert len(asset.content) > 1000, url


def test_swagger_page_points_at_the_customized_schema(client):
    assert "/docs-assets/swagger-ui.css" in client.get("/docs").text
    schema = client.get("/openapi.json").json()
    assert "/predict" in schema["paths"]
    assert not {"/docs", "/redoc", "/docs/oauth2-redirect"} & set(schema["paths"])
    # document_body_errors still adds the framework's 400 and the middleware's 413
    with_body = [op for item in schema["paths"].values() for op in item.values() if "requestBody" in op]
    assert with_body and all({"400", "413"} <= set(op["responses"]) for op in with_body)
    assert client.get("/docs/oauth2-redirect").status_code == 200


@pytest.mark.parametrize("path", ["/../serving/app.py", "/..%2fserving%2fapp.py", "/%2e%2e/%2e%2e/pyproject.toml",
                                  "/nothing.js", "/"])
def test_assets_folder_serves_nothing_else(client, path):
    response = client.get(ASSETS_URL + path)
    assert response.status_code in (404, 405), path
    assert "cache-control" not in response.headers


def chromium() -> str:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    found = shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"chromium is missing at {CHROMIUM}: .ci/run installs Debian's package `chromium`")
    pytest.skip(f"chromium is missing at {CHROMIUM}: `apt-get install -y chromium` to run this test")


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[int]:
    """A real uvicorn on an empty project: the docs need only /openapi.json, so /health (not /ready) is awaited."""
    root = tmp_path_factory.mktemp("docs-served")
    with uvicorn_yts(ProjectPaths(root=root, artifact_dir=root / "artifacts"), ready_path="/health") as port:
        yield port


def rendered(browser: str, url: str, tmp_path) -> str:
    """The DOM headless Chromium builds for `url` with every host but 127.0.0.1 unreachable."""
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
               "--disable-background-networking", "--disable-component-update", "--mute-audio",
               f"--user-data-dir={tmp_path / 'chromium-profile'}",
               "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
               "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
               "--virtual-time-budget=10000", "--dump-dom", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_swagger_ui_renders_the_operations_offline(served, tmp_path):
    dom = rendered(chromium(), f"http://127.0.0.1:{served}/docs", tmp_path)
    assert "opblock" in dom, dom[-2000:]
    assert "/predict" in dom and "/health" in dom


@pytest.mark.slow
def test_redoc_renders_the_operations_offline(served, tmp_path):
    dom = rendered(chromium(), f"http://127.0.0.1:{served}/redoc", tmp_path)
    assert "/predict" in dom and "/health" in dom, dom[-2000:]
    assert "redoc-wrap" in dom or "api-content" in dom, dom[-2000:]


@pytest.mark.slow
def test_the_flags_block_every_host_but_127_0_0_1(served, tmp_path):
    """What makes the two tests above offline: even `localhost`, the same server, is unreachable through them."""
    browser = chromium()
    assert '"status":"ok"' in rendered(browser, f"http://127.0.0.1:{served}/health", tmp_path)
    assert '"status":"ok"' not in rendered(browser, f"http://localhost:{served}/health", tmp_path)
