"""Real servers for tests: a free port on 127.0.0.1, bounded waits, and a uvicorn yts that is always stopped."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from yts_assets.core.paths import ProjectPaths

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition",
             interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout:.0f}s")
        time.sleep(interval)
    return value


def request(port: int, method: str, path: str, body: Any = None,
            headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    """(status, content type, body bytes) of one request to 127.0.0.1."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"content-type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.getheader("content-type", ""), response.read()
    finally:
        conn.close()


def call(port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    status, _, data = request(port, method, path, body, headers)
    return status, json.loads(data or b"{}")


@contextlib.contextmanager
def uvicorn_yts(paths: ProjectPaths, *, ready_timeout: float = 60.0, ready_path: str = "/ready",
                **env: str) -> Iterator[int]:
    """A real `uvicorn serving.app:app` on 127.0.0.1 serving `paths`; yields its port once `ready_path` answers 200."""
    port = free_port()
    environment = {**os.environ, "YTS_PROJECT_ROOT": str(paths.root), "YTS_ARTIFACT_DIR": str(paths.artifact_dir),
                   "YTS_CAPTURE_DIR": str(paths.root / "incoming"), **env}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "serving.app:app", "--host", "127.0.0.1", "--port",
                               str(port), "--log-level", "warning"], cwd=REPO, env=environment)

    def ready() -> bool:
        assert server.poll() is None, f"uvicorn exited with {server.returncode}"
        try:
            return request(port, "GET", ready_path)[0] == 200
        except OSError:
            return False

    try:
        wait_for(ready, ready_timeout, f"uvicorn {ready_path}")
        yield port
    finally:
        stop_process(server, 15)


def stop_process(process: subprocess.Popen, timeout: float) -> None:
    """Terminate a process this test started; kill it if it has not exited within `timeout`."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that records every JSON body POSTed to it; `down` makes it answer 503."""

    def __init__(self) -> None:
        import http.server
        import threading

        received: list[dict] = []
        self.received = received
        self.down = False
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if receiver.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def kinds(self) -> list[str]:
        return [body["yts"]["kind"] for body in self.received]
