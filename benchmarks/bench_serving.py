"""Benchmark the API over loopback HTTP against a real uvicorn process on 127.0.0.1.

    .venv/bin/python benchmarks/bench_serving.py
    .venv/bin/python benchmarks/bench_serving.py --baseline-rev 8482769   # also an older yts, interleaved

Trains into a temporary artifact folder first (real data when ../shared/data is present), starts
`uvicorn serving.app:app` and, beside it under the same uvicorn, the minimal app of
benchmarks/minimal_app.py (the floor), then measures, interleaved: single /predict latency
(sequential, keep-alive) and throughput with 8 concurrent clients (one process each), and prints
yts/minimal ratios; then /predict/batch of 500 and /mlops/drift-check of 500 on yts. Every figure
is a median; every server is stopped at the end. With --baseline-rev, that git revision is checked
out into a temporary worktree, trains its own run with its own code, and serves it as a third
server in the same interleaved single-request rounds; the yts/baseline ratio is printed too.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL_CSV = REPO.parent / "shared" / "data" / "Global YouTube Statistics.csv"
ITEM = {"uploads": 1200, "category": "Music", "country": "India", "age": 9}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(conn: http.client.HTTPConnection, method: str, path: str, body: object | None = None) -> tuple[int, bytes]:
    payload = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=payload, headers={"content-type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def timed(conn: http.client.HTTPConnection, path: str, body: object, count: int) -> list[float]:
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        status, _ = request(conn, "POST", path, body)
        timings.append((time.perf_counter() - started) * 1000)
        assert status == 200, status
    return timings


def client(port: int, seconds: float, results: "multiprocessing.Queue[tuple[int, int]]") -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ok = errors = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        try:
            status, _ = request(conn, "POST", "/predict", ITEM)
            ok += status == 200
            errors += status != 200
        except (OSError, http.client.HTTPException):
            errors += 1
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    results.put((ok, errors))


ROUNDS = 5


def start_server(app: str, env: dict[str, str], tree: Path = REPO) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
                                "--log-level", "warning", "--no-access-log"], env=env, cwd=tree)
    return process, port


def train(tree: Path, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "yts_assets.cli.run"], env=env, cwd=tree, check=True, capture_output=True,
                   timeout=300)


def wait_ready(port: int, process: subprocess.Popen) -> http.client.HTTPConnection:
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            if request(conn, "GET", "/ready")[0] == 200:
                return conn
        except OSError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"server on port {port} did not become ready within 60 s")
        time.sleep(0.2)


def concurrent_rate(port: int, clients: int, seconds: float) -> tuple[float, int]:
    results: multiprocessing.Queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=client, args=(port, seconds, results)) for _ in range(clients)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    totals = [results.get(timeout=seconds + 30) for _ in workers]
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join(timeout=10)
    return sum(t[0] for t in totals) / elapsed, sum(t[1] for t in totals)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="sequential single predictions")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the concurrent run")
    parser.add_argument("--baseline-rev", help="an older yts revision to serve beside this one, interleaved")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yts-serve-bench-") as scratch:
        env = {**os.environ, "YTS_ARTIFACT_DIR": f"{scratch}/artifacts", "DAGSTER_HOME": f"{scratch}/home",
               "YTS_PROJECT_ROOT": str(REPO), "YTS_CAPTURE_DIR": f"{scratch}/incoming"}
        if REAL_CSV.is_file():
            env["YTS_DATA_PATH"] = str(REAL_CSV)
        train(REPO, env)
        servers = {name: start_server(app, env) for name, app in (("yts", "serving.app:app"),
                                                                   ("minimal", "benchmarks.minimal_app:app"))}
        worktree = Path(scratch) / "baseline"
        try:
            if args.baseline_rev:
                subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.baseline_rev], cwd=REPO,
                               check=True, capture_output=True)
                old = {**env, "PYTHONPATH": str(worktree), "YTS_PROJECT_ROOT": str(worktree),
                       "YTS_ARTIFACT_DIR": f"{scratch}/baseline-artifacts", "DAGSTER_HOME": f"{scratch}/baseline-home",
                       "YTS_CAPTURE_DIR": f"{scratch}/baseline-incoming"}
                train(worktree, old)
                servers["baseline"] = start_server("serving.app:app", old, worktree)
            conns = {name: wait_ready(port, process) for name, (process, port) in servers.items()}
            for name, conn in conns.items():
                timed(conn, "/predict", ITEM, 200)  # warm-up
            single: dict[str, list[float]] = {name: [] for name in servers}
            for _ in range(ROUNDS):  # interleaved, so every server sees the same machine load
                for name, conn in conns.items():
                    single[name] += timed(conn, "/predict", ITEM, args.requests // ROUNDS)
            batch = timed(conns["yts"], "/predict/batch", {"items": [ITEM] * 500}, 50)
            drift = timed(conns["yts"], "/mlops/drift-check", {"items": [ITEM] * 500}, 50)
            throughput: dict[str, list[float]] = {name: [] for name in ("yts", "minimal")}
            errors = 0
            for _ in range(2):
                for name, (_, port) in list(servers.items())[:2]:
                    rate, failed = concurrent_rate(port, args.clients, args.seconds / 2)
                    throughput[name].append(rate)
                    errors += failed if name == "yts" else 0
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(timeout=15)
            if worktree.exists():
                subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, capture_output=True)
    p50 = {name: statistics.median(values) for name, values in single.items()}
    rate = {name: statistics.median(values) for name, values in throughput.items()}
    print(f"single /predict over loopback HTTP, p50: yts {p50['yts']:.2f} ms, minimal app {p50['minimal']:.2f} ms, "
          f"ratio {p50['yts'] / p50['minimal']:.2f} (p95 yts {sorted(single['yts'])[int(0.95 * len(single['yts']))]:.2f} ms;"
          f" {args.requests} requests each, interleaved)")
    if "baseline" in p50:
        print(f"single /predict p50 against {args.baseline_rev}: yts {p50['yts']:.2f} ms, {args.baseline_rev} "
              f"{p50['baseline']:.2f} ms, ratio {p50['yts'] / p50['baseline']:.2f}")
    print(f"{args.clients} concurrent clients: yts {rate['yts']:.0f} req/s ({errors} errors), minimal app "
          f"{rate['minimal']:.0f} req/s, ratio {rate['yts'] / rate['minimal']:.2f}")
    print(f"/predict/batch of 500: p50 {statistics.median(batch):.2f} ms")
    print(f"/mlops/drift-check of 500: p50 {statistics.median(drift):.2f} ms")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, 1 uvicorn worker each, capture on")
    return 0


if __name__ == "__main__":
    sys.exit(main())
