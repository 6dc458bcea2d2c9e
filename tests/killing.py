"""Crash tests: a subprocess preamble whose `counted(f)` wraps a function so the process kills itself (SIGKILL)
at its `sys.argv[1]`-th call of any counted function, to test every point of a write sequence."""

import json
import subprocess
import sys
import threading

COUNTED_KILL = """
import os, shutil, signal, sys
kill_at, calls = int(sys.argv[1]), 0

def counted(function):
    def call(*args, **kwargs):
        global calls
        calls += 1
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)
    return call
"""

# One interpreter that imports the modules once and forks a child per kill point: the child runs a script as
# `python -c script *args` would (its own sys.argv, globals and stdout/stderr), and is killed the same way. A fork of
# a process that has only imported (no threads of its own started) is what every step starts from.
FORKING_SERVER = r"""
import json, os, shutil, sys, tempfile, traceback
for name in json.loads(sys.argv[1]):
    __import__(name)
script = compile(sys.argv[2], "<string>", "exec")
out_dir = tempfile.mkdtemp(prefix="yts-killing-")
for line in sys.stdin:
    args = json.loads(line)
    out, err = os.path.join(out_dir, "stdout"), os.path.join(out_dir, "stderr")
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            for fd, path in ((1, out), (2, err)):
                target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(target, fd)
                os.close(target)
            sys.argv = ["-c", *args]
            exec(script, {"__name__": "__main__", "__builtins__": __builtins__})
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    with open(out) as o, open(err) as e:
        answer = {"returncode": returncode, "stdout": o.read(), "stderr": e.read()}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
shutil.rmtree(out_dir, ignore_errors=True)
"""


class Forking:
    """`run(*args)` gives what `subprocess.run([python, "-c", script, *args], capture_output=True, text=True)` would,
    from a child forked off one server that imported `preload` first; the server is stopped on exit."""

    def __init__(self, script: str, preload: list[str], cwd, env: dict[str, str], timeout: float = 120) -> None:
        self.timeout = timeout
        self.server = subprocess.Popen([sys.executable, "-c", FORKING_SERVER, json.dumps(preload), script], cwd=cwd,
                                       env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        self.server.stdin.write(json.dumps(list(args)) + "\n")
        self.server.stdin.flush()
        timer = threading.Timer(self.timeout, self.server.kill)  # a hung child: the server goes, the test fails
        timer.start()
        try:
            line = self.server.stdout.readline()
        finally:
            timer.cancel()
        assert line, f"the forking server stopped (exit code {self.server.poll()})"
        answer = json.loads(line)
        return subprocess.CompletedProcess(list(args), answer["returncode"], answer["stdout"], answer["stderr"])

    def __enter__(self) -> "Forking":
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stdin.close()
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait(timeout=10)
