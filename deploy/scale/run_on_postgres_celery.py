"""`training_job` on a Dagster instance in Postgres, its steps run by dagster-celery workers over Redis.

    .venv/bin/python deploy/scale/run_on_postgres_celery.py                   # a throwaway project
    .venv/bin/python deploy/scale/run_on_postgres_celery.py --project-root .  # publish into this project's registry
    .venv/bin/python deploy/scale/run_on_postgres_celery.py --optuna          # then 2 Optuna workers on its Postgres

Everything runs on 127.0.0.1 and is gone when the script ends (also on Ctrl-C or SIGTERM):

1. a Postgres cluster initialized in a temporary folder (Debian's binaries, /usr/lib/postgresql/<version>/bin;
   as root, the server runs as the `postgres` user, since Postgres refuses root), on a free port, with a
   random password;
2. redis-server on a free port, with a random password and no persistence;
3. DAGSTER_HOME/dagster.yaml with `storage: postgres:` (runs, event log, schedules) pointing at 1;
4. --workers Celery workers (`celery -A dagster_celery.app worker --pool solo`, one process each) on the
   broker 2; each loads the code location (the installed `yts_assets` package) once when it starts;
5. `dagster job execute -m yts_assets.definitions -j training_job` with YTS_EXECUTOR=celery (--runs times):
   the run process submits each step as a Celery task, a worker executes it and writes its events to Postgres.
   --in-process-runs then runs the job with the in-process executor on the same instance, for comparison.

It then reads the run back from Postgres and prints its status, which worker (Celery node and pid) executed
each step, and the registry's active run; it exits 1 if the run failed or a step ran outside a worker, 2 if
the services could not be started. The data: YTS_DATA_PATH if set, else the project's data/ CSV, else the demo.
Needs the `scale` extra (pip install -c requirements.lock -e '.[scale]') and Debian's postgresql and redis-server.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_USER = "yts"
RUN_TAG = "yts/launcher"


class SetupError(RuntimeError):
    """A service could not be started: exit code 2."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise SetupError("Postgres is not installed: apt-get install -y --no-install-recommends postgresql")


def server_user() -> pwd.struct_passwd | None:
    """Postgres refuses to run as root: as root, use the `postgres` account (Debian's package makes it)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise SetupError("running as root, but neither a postgres nor a nobody account exists to run Postgres")


def wait_until(what: str, check, timeout: float, process: subprocess.Popen | None = None) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SetupError(f"{what} exited with code {process.returncode} before it was ready")
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - not up yet
            last_error = exc
        time.sleep(0.2)
    raise SetupError(f"{what} not ready after {timeout:.0f} s ({last_error})")


class Stack:
    """The processes and folder this script made; `close` stops every process it started, then deletes the folder."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="yts-pg-celery-"))
        self.root.chmod(0o755)  # the postgres account must reach its data folder inside
        self.processes: list[tuple[str, subprocess.Popen, int]] = []  # name, process, signal that stops it cleanly

    def start(self, name: str, command: list[str], stop_signal: int = signal.SIGTERM,
              **kwargs: Any) -> subprocess.Popen:
        output = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, **kwargs)
        output.close()
        self.processes.append((name, process, stop_signal))
        return process

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.root / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.is_file() else ""

    def close(self) -> None:
        """Runs and workers together first, then Redis, then Postgres: each group signalled at once, waited for
        (20 s), then killed. Each process leads its own session, so its children go with it."""
        services = ("redis", "postgres")
        groups = [[p for p in self.processes if p[0] not in services],
                  *[[p for p in self.processes if p[0] == name] for name in services]]
        for group in groups:
            stopping = time.monotonic()
            for _, process, stop_signal in group:
                if process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, stop_signal)
            for name, process, _ in group:
                try:
                    process.wait(timeout=max(20 - (time.monotonic() - stopping), 0.1))
                except subprocess.TimeoutExpired:
                    log(f"{name} (pid {process.pid}) did not stop in 20 s: killing it")
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
            if group:
                log(f"stopped {', '.join(name for name, _, _ in group)} in {time.monotonic() - stopping:.1f} s")
        self.processes.clear()
        if self.keep:
            log(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def start_postgres(stack: Stack, databases: list[str]) -> dict[str, Any]:
    import psycopg2

    bindir, account = postgres_bin(), server_user()
    as_account = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []} if account else {}
    data, sockets = stack.root / "pg", stack.root / "pg-socket"
    password = secrets.token_urlsafe(18)
    password_file = stack.root / "pg-password"
    password_file.touch(mode=0o600)
    password_file.write_text(password + "\n")
    data.mkdir(mode=0o700)
    sockets.mkdir(mode=0o700)
    for path in (data, sockets, password_file):
        if account:
            os.chown(path, account.pw_uid, account.pw_gid)
    initdb = subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, f"--pwfile={password_file}",
                             "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "--no-locale", "-E", "UTF8",
                             "--no-sync"], cwd=stack.root, capture_output=True, text=True, timeout=120, **as_account)
    password_file.unlink()
    if initdb.returncode != 0:
        raise SetupError(f"initdb failed: {initdb.stdout[-1500:]} {initdb.stderr[-1500:]}")
    port = free_port()
    server = stack.start("postgres", [str(bindir / "postgres"), "-D", str(data), "-p", str(port),
                                      "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sockets}",
                                      "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                         stop_signal=signal.SIGINT, cwd=stack.root, **as_account)  # SIGINT: Postgres's fast shutdown

    def connect(database: str = "postgres"):  # noqa: ANN202
        return psycopg2.connect(host="127.0.0.1", port=port, user=PG_USER, password=password, dbname=database,
                                connect_timeout=2)

    wait_until(f"Postgres on 127.0.0.1:{port}", lambda: connect().close() is None, 30, server)
    admin = connect()
    admin.autocommit = True
    with admin.cursor() as cursor:
        for database in databases:
            cursor.execute(f'CREATE DATABASE "{database}"')
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    admin.close()
    log(f"Postgres {version} on 127.0.0.1:{port} (server pid {server.pid}, as {account.pw_name if account else 'me'}); "
        f"databases {', '.join(databases)}")
    return {"port": port, "password": password, "version": version, "pid": server.pid}


def start_redis(stack: Stack) -> str:
    import redis

    executable = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(executable).is_file():
        raise SetupError("redis-server is not installed: apt-get install -y --no-install-recommends redis-server")
    port, password = free_port(), secrets.token_urlsafe(18)
    (stack.root / "redis").mkdir()
    config = stack.root / "redis.conf"  # the password in a file, not on the command line
    config.write_text(f"bind 127.0.0.1\nport {port}\nrequirepass {password}\nsave \"\"\nappendonly no\n"
                      f"daemonize no\nprotected-mode yes\ndir {stack.root / 'redis'}\n")
    config.chmod(0o600)
    server = stack.start("redis", [executable, str(config)])
    client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_connect_timeout=1)
    wait_until(f"redis-server on 127.0.0.1:{port}", client.ping, 20, server)
    client.close()
    log(f"redis-server on 127.0.0.1:{port} (pid {server.pid}), no persistence")
    return f"redis://:{password}@127.0.0.1:{port}/0"


def write_instance(home: Path, postgres: dict[str, Any]) -> None:
    home.mkdir()
    (home / "dagster.yaml").write_text(f"""# Written by deploy/scale/run_on_postgres_celery.py
telemetry:
  enabled: false
storage:
  postgres:
    postgres_db:
      username: {PG_USER}
      password:
        env: YTS_SCALE_PG_PASSWORD
      hostname: 127.0.0.1
      db_name: dagster
      port: {postgres['port']}
      # SQLAlchemy 2.1's default Postgres driver is psycopg 3; dagster-postgres installs psycopg2
      scheme: postgresql+psycopg2
""")


def start_workers(stack: Stack, env: dict[str, str], count: int, broker: str) -> list[str]:
    from celery import Celery

    # dagster_celery.app reads this module, as `dagster-celery worker start -y` would write it: broker and backend.
    # It also loads the code location once at start, as a long-lived worker has it, not in its first task.
    config_dir = stack.root / "celery-config"
    config_dir.mkdir()
    (config_dir / "dagster_celery_config.py").write_text(
        "import os\n\nfrom yts_assets.definitions import build_definitions\n\n"
        "broker_url = os.environ['YTS_CELERY_BROKER']\nresult_backend = os.environ['YTS_CELERY_BACKEND']\n"
        "build_definitions()\n")
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(config_dir), env.get("PYTHONPATH")]))}
    names = [f"yts-worker-{index}@{socket.gethostname()}" for index in range(1, count + 1)]
    for index, name in enumerate(names, start=1):
        stack.start(f"celery-worker-{index}", [str(BIN / "celery"), "-A", "dagster_celery.app", "worker",
                                               "--hostname", name, "--pool", "solo", "--loglevel", "INFO",
                                               "--queues", "dagster", "--prefetch-multiplier", "1",
                                               "--without-gossip", "--without-mingle"], env=env, cwd=stack.root)
    app = Celery(broker=broker, backend=broker)

    def all_answer() -> bool:
        answered = {name for reply in app.control.ping(timeout=1.0) for name in reply}
        return set(names) <= answered

    worker_processes = [p for n, p, _ in stack.processes if n.startswith("celery-worker")]

    def check() -> bool:
        for process in worker_processes:
            if process.poll() is not None:
                raise SetupError(f"a Celery worker exited with code {process.returncode}:\n"
                                 f"{stack.tail('celery-worker-1')}")
        return all_answer()

    wait_until(f"{count} Celery workers", check, 90)
    app.close()
    log(f"Celery workers ready: {', '.join(f'{n} (pid {p.pid})' for n, p in zip(names, worker_processes))}")
    return names


def run_job(stack: Stack, env: dict[str, str], marker: str, timeout: float, name: str) -> int:
    command = [str(BIN / "dagster"), "job", "execute", "-m", "yts_assets.definitions", "-j", "training_job",
               "--tags", json.dumps({RUN_TAG: "postgres-celery", "yts/scale-marker": marker})]
    log(f"dagster job execute -m yts_assets.definitions -j training_job  (YTS_EXECUTOR={env['YTS_EXECUTOR']})")
    started = time.monotonic()
    process = stack.start(name, command, env=env, cwd=REPO)
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"the run did not finish in {timeout:.0f} s: stopping it")
        os.killpg(process.pid, signal.SIGTERM)
        code = process.wait(timeout=30)
    log(f"dagster job execute exited with code {code} after {time.monotonic() - started:.1f} s")
    return code


def run_report(env: dict[str, str], marker: str, project: Path, artifacts: Path) -> dict[str, Any]:
    """The run as Postgres has it: status, which worker executed each step; and the registry's verdict."""
    from dagster import DagsterEventType, DagsterInstance, RunsFilter

    from yts_assets.core.paths import ProjectPaths
    from yts_assets.core.registry import find_run, load_registry

    os.environ.update({"DAGSTER_HOME": env["DAGSTER_HOME"], "YTS_SCALE_PG_PASSWORD": env["YTS_SCALE_PG_PASSWORD"]})
    with DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=RunsFilter(tags={"yts/scale-marker": marker}))
        if not runs:
            return {"run_id": None, "status": "NOT FOUND", "storage": type(instance.run_storage).__name__}
        run = runs[0]
        workers: dict[str, str] = {}  # step -> Celery node, from dagster-celery's "Executing steps" engine event
        pids: dict[str, int] = {}
        durations: dict[str, float] = {}
        started: dict[str, float] = {}
        for record in instance.all_logs(run.run_id):
            event = record.dagster_event
            if event is None or not event.step_key:
                continue
            if event.event_type == DagsterEventType.ENGINE_EVENT and "in celery worker" in (event.message or ""):
                metadata = event.engine_event_data.metadata or {}
                node = metadata.get("Celery worker")
                workers[event.step_key] = str(getattr(node, "value", node) or node)
            elif event.event_type == DagsterEventType.STEP_START:
                pids[event.step_key], started[event.step_key] = event.pid, record.timestamp
            elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                durations[event.step_key] = record.timestamp - started.get(event.step_key, record.timestamp)
        paths = ProjectPaths.from_env(project, artifacts)
        registry = load_registry(paths)
        record = find_run(registry, run.run_id)
        return {
            "run_id": run.run_id, "status": run.status.value, "storage": type(instance.run_storage).__name__,
            "event_storage": type(instance.event_log_storage).__name__,
            "steps": {step: {"worker": workers.get(step), "pid": pids.get(step),
                             "seconds": round(durations.get(step, 0.0), 2)} for step in sorted(pids)},
            "active_run_id": registry["active_run_id"],
            "registry_status": record["status"] if record else None,
        }


def print_report(report: dict[str, Any]) -> None:
    print(f"\nrun {report['run_id']}: {report['status']} with the {report['executor']} executor in "
          f"{report['seconds']:.1f} s (run storage {report['storage']}, event log {report.get('event_storage')})")
    if report["executor"] == "celery":
        by_worker: dict[tuple[str, int], list[str]] = defaultdict(list)
        for step, where in report.get("steps", {}).items():
            by_worker[(where["worker"] or "NOT A CELERY WORKER", where["pid"])].append(step)
        print(f"{len(report.get('steps', {}))} steps executed by {len(by_worker)} Celery worker processes:")
        for (worker, pid), steps in sorted(by_worker.items(), key=lambda item: str(item[0])):
            print(f"  {worker} (pid {pid}): {len(steps)} steps: {', '.join(steps)}")
    else:
        print(f"{len(report.get('steps', {}))} steps executed in the run's own process")
    note = ("this run" if report.get("active_run_id") == report["run_id"]
            else f"this run is {report.get('registry_status')}")
    print(f"registry active run id: {report.get('active_run_id')} ({note})")


def run_ok(report: dict[str, Any]) -> bool:
    steps = report.get("steps", {})
    return (report["exit_code"] == 0 and report["status"] == "SUCCESS" and bool(steps)
            and (report["executor"] != "celery" or all(where["worker"] for where in steps.values())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project-root", type=Path, help="publish into this project (default: a throwaway one)")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (default 2)")
    parser.add_argument("--runs", type=int, default=1, help="training runs through the Celery workers (default 1)")
    parser.add_argument("--in-process-runs", type=int, default=0,
                        help="then this many runs on the same Postgres instance with the in-process executor, to "
                             "tell the storage's cost from the executor's (default 0)")
    parser.add_argument("--timeout", type=float, default=300.0, help="bound on each training run (s)")
    parser.add_argument("--optuna", action="store_true",
                        help="then run deploy/scale/optuna_workers.py (2 workers) on a database of the same Postgres")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, DAGSTER_HOME)")
    args = parser.parse_args(argv)

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    began = time.monotonic()
    stack = Stack(keep=args.keep)
    report: dict[str, Any] = {"ok": False, "runs": []}
    try:
        project = (args.project_root or stack.root / "project").resolve()
        project.mkdir(parents=True, exist_ok=True)
        artifacts = project / "artifacts" if args.project_root is None else Path(
            os.environ.get("YTS_ARTIFACT_DIR") or project / "artifacts")
        postgres = start_postgres(stack, ["dagster", "optuna"] if args.optuna else ["dagster"])
        broker = start_redis(stack)
        env = {**os.environ, "DAGSTER_HOME": str(stack.root / "dagster_home"), "YTS_EXECUTOR": "celery",
               "YTS_CELERY_BROKER": broker, "YTS_CELERY_BACKEND": broker, "YTS_PROJECT_ROOT": str(project),
               "YTS_ARTIFACT_DIR": str(artifacts), "YTS_SCALE_PG_PASSWORD": postgres["password"],
               "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}
        write_instance(stack.root / "dagster_home", postgres)
        log(f"DAGSTER_HOME {env['DAGSTER_HOME']} (storage: postgres); project {project}; data "
            f"{os.environ.get('YTS_DATA_PATH') or 'the project data/ CSV, else the demo'}")
        start_workers(stack, env, args.workers, broker)
        report.update(postgres_version=postgres["version"], workers=args.workers,
                      setup_seconds=round(time.monotonic() - began, 2))
        plan = ["celery"] * args.runs + ["in_process"] * args.in_process_runs
        for index, executor in enumerate(plan, start=1):
            marker = secrets.token_hex(8)
            started = time.monotonic()
            code = run_job(stack, {**env, "YTS_EXECUTOR": executor}, marker, args.timeout, f"dagster-run-{index}")
            seconds = round(time.monotonic() - started, 2)
            run = {**run_report(env, marker, project, artifacts), "executor": executor, "exit_code": code,
                   "seconds": seconds}
            report["runs"].append(run)
            print_report(run)
            if not run_ok(run):
                print(f"\nFAILED. The run's log (tail):\n{stack.tail(f'dagster-run-{index}')}\n\nworker 1 (tail):\n"
                      f"{stack.tail('celery-worker-1')}", file=sys.stderr)
        ok = bool(report["runs"]) and all(run_ok(run) for run in report["runs"])
        if args.optuna:
            optuna_env = {**env, "YTS_OPTUNA_STORAGE": f"postgresql+psycopg2://{PG_USER}:{postgres['password']}"
                                                       f"@127.0.0.1:{postgres['port']}/optuna"}
            log("deploy/scale/optuna_workers.py --workers 2 on Postgres")
            summary = stack.root / "optuna.json"
            optuna = subprocess.run([sys.executable, str(REPO / "deploy" / "scale" / "optuna_workers.py"),
                                     "--workers", "2", "--trials", "1", "--cv-folds", "3", "--timeout", "120",
                                     "--json", str(summary)], env=optuna_env, timeout=400, capture_output=True,
                                    text=True)
            print("\n".join(line for line in optuna.stdout.splitlines() if "inner-CV" not in line))
            report["optuna"] = (json.loads(summary.read_text()) if summary.is_file()
                                else {"ok": False, "error": optuna.stderr[-2000:]})
            ok = ok and optuna.returncode == 0
        report.update(ok=ok, total_seconds=round(time.monotonic() - began, 2))
        print(f"\n{'OK' if ok else 'FAILED'}: {len(report['runs'])} runs; total {report['total_seconds']:.1f} s, "
              f"starting the services included")
        return 0 if ok else 1
    except SetupError as exc:
        print(f"could not start the stack: {exc}", file=sys.stderr)
        report["setup_error"] = str(exc)
        return 2
    finally:
        report.update(processes={name: process.pid for name, process, _ in stack.processes}, temp_dir=str(stack.root))
        stack.close()
        if args.json:
            args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        log("stopped every process this script started" + ("" if args.keep else "; temporary folder deleted"))


if __name__ == "__main__":
    sys.exit(main())
