"""Benchmark the API over loopback HTTP against a real uvicorn process on 127.0.0.1.

    .venv/bin/python benchmarks/bench_serving.py
    .venv/bin/python benchmarks/bench_serving.py --baseline-rev 8482769   # also an older yts, interleaved

Trains into a temporary artifact folder first (real data when ../shared/data is present), starts
`uvicorn serving.app:app` and, beside it under the same uvicorn, the minimal app of
benchmarks/minimal_app.py (the floor), then measures, interleaved: single /predict latency
(sequential, keep-alive) and throughput with 8 concurrent clients (one process each), and prints
the two yts/minimal ratios against their targets (p50 at most 2x the minimal app's, throughput at
least 0.6x), saying whether each is met; then /predict/batch of 500 and /mlops/drift-check of 500
on yts. Every figure is a median; every server is stopped at the end. With --baseline-rev, that
git revision is checked out into a temporary worktree, trains its own run with its own code, and
serves it as a third server in the same interleaved rounds (single requests and concurrent
clients); the yts/baseline ratios are printed too.
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
P50_TARGET = 2.0  # yts p50 / minimal p50, at most
THROUGHPUT_TARGET = 0.6  # yts req/s / minimal req/s, at least


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
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the concurrent run, per server")
    parser.add_argument("--concurrent-rounds", type=int, default=3, help="interleaved rounds the duration is split in")
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
            throughput: dict[str, list[float]] = {name: [] for name in servers}
            errors = dict.fromkeys(servers, 0)
            for _ in range(args.concurrent_rounds):
                for name, (_, port) in servers.items():
                    rate, failed = concurrent_rate(port, args.clients, args.seconds / args.concurrent_rounds)
                    throughput[name].append(rate)
                    errors[name] += failed
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(timeout=15)
            if worktree.exists():
                subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, capture_output=True)
    p50 = {name: statistics.median(values) for name, values in single.items()}
    rate = {name: statistics.median(values) for name, values in throughput.items()}
    latency_ratio, rate_ratio = p50["yts"] / p50["minimal"], rate["yts"] / rate["minimal"]
    p95 = sorted(single["yts"])[int(0.95 * len(single["yts"]))]
    print(f"single /predict over loopback HTTP, p50: yts {p50['yts']:.3f} ms, minimal app {p50['minimal']:.3f} ms "
          f"(p95 yts {p95:.3f} ms; {args.requests} requests each, interleaved)")
    print(f"  p50 ratio yts/minimal {latency_ratio:.2f}: target at most {P50_TARGET:.1f}, "
          f"{'MET' if latency_ratio <= P50_TARGET else 'NOT MET'}")
    print(f"{args.clients} concurrent clients: yts {rate['yts']:.0f} req/s ({errors['yts']} errors), minimal app "
          f"{rate['minimal']:.0f} req/s ({errors['minimal']} errors)")
    print(f"  throughput ratio yts/minimal {rate_ratio:.2f}: target at least {THROUGHPUT_TARGET:.1f}, "
          f"{'MET' if rate_ratio >= THROUGHPUT_TARGET else 'NOT MET'}")
    if "baseline" in p50:
        print(f"against {args.baseline_rev} in the same rounds: p50 {p50['baseline']:.3f} ms (yts/{args.baseline_rev} "
              f"{p50['yts'] / p50['baseline']:.2f}; its ratio to the minimal app {p50['baseline'] / p50['minimal']:.2f}), "
              f"{rate['baseline']:.0f} req/s ({errors['baseline']} errors; yts/{args.baseline_rev} "
              f"{rate['yts'] / rate['baseline']:.2f}; its ratio to the minimal app {rate['baseline'] / rate['minimal']:.2f})")
    print(f"/predict/batch of 500: p50 {statistics.median(batch):.2f} ms")
    print(f"/mlops/drift-check of 500: p50 {statistics.median(drift):.2f} ms")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, 1 uvicorn worker each, capture on")
    return 0


if __name__ == "__main__":
    sys.exit(main())
