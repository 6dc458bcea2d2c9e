"""The shape of the code: no import cycles, one configuration module, a short predict path, docs in step."""

from __future__ import annotations

import ast
import asyncio
import re
import sys
from pathlib import Path

import httpx

from yts_assets.core import config

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("yts_assets", "serving")
ENTRY_POINTS = {"yts_assets.cli.run"}  # besides the tests, the only importers of yts_assets.definitions


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules that `name` imports anywhere in its body (function-level imports included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    graph = {name: imported_modules(name, path, known) for name, path in modules.items()}
    for name in graph:  # a package's own __init__ importing its submodules is not a dependency of theirs
        graph[name] = {target for target in graph[name] if not name.startswith(target + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_among_project_modules():
    graph = import_graph()
    assert "yts_assets.core.paths" in graph["yts_assets.core.registry"]  # the walker sees relative imports
    assert find_cycle(graph) is None


def test_only_entry_points_import_the_code_location():
    importers = {name for name, targets in import_graph().items() if "yts_assets.definitions" in targets}
    assert importers <= ENTRY_POINTS, importers


def test_layers_point_one_way():
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith("yts_assets.core"):
            assert not {t for t in targets if not t.startswith("yts_assets.core")}, (name, targets)
        if name.startswith(("yts_assets.core", "yts_assets.ml")):
            source = project_modules()[name].read_text(encoding="utf-8")
            assert not re.search(r"^\s*(from|import) dagster", source, re.M), name
        if name.startswith("serving"):
            assert not {t for t in targets if t.startswith(("yts_assets.defs", "yts_assets.definitions"))}, name


def test_only_the_configuration_module_reads_the_environment():
    readers = [str(path.relative_to(REPO)) for path in project_modules().values()
               if "os.environ" in path.read_text(encoding="utf-8") or "getenv" in path.read_text(encoding="utf-8")]
    assert readers == ["yts_assets/core/config.py"]


def test_readme_lists_every_variable_exactly():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert config.variables_markdown() in readme
    assert len({v.name for v in config.VARIABLES}) == len(config.VARIABLES)


def test_boolean_flags_parse_one_way(monkeypatch):
    for raw, expected in (("1", True), ("true", True), ("Yes", True), ("on", True), ("0", False), ("false", False),
                          ("off", False)):
        monkeypatch.setenv("YTS_CAPTURE_ENABLED", raw)
        assert config.CAPTURE_ENABLED.get() is expected
    monkeypatch.setenv("YTS_CAPTURE_ENABLED", "maybe")
    try:
        config.CAPTURE_ENABLED.get()
    except config.ConfigError as exc:
        assert "YTS_CAPTURE_ENABLED='maybe' is not valid" in str(exc)
    else:
        raise AssertionError("an unparseable flag must fail")


def files_touched_by_one_predict(app) -> set[str]:  # noqa: ANN001 - a FastAPI app
    """Project files whose code runs while the app answers one /predict (traced in this thread)."""
    touched: set[str] = set()
    roots = tuple(str(REPO / package) for package in PACKAGES)

    def tracer(frame, event, arg):  # noqa: ANN001, ANN202
        if event == "call" and frame.f_code.co_filename.startswith(roots):
            touched.add(str(Path(frame.f_code.co_filename).relative_to(REPO)))
        return None

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://yts") as client:
            await client.post("/predict", json={"uploads": 10, "category": "Music", "country": "India", "age": 3})
            sys.settrace(tracer)
            try:
                return await client.post("/predict", json={"uploads": 1200, "category": "Music", "country": "India",
                                                            "age": 9})
            finally:
                sys.settrace(None)

    response = asyncio.run(call())
    assert response.status_code == 200, response.text
    return touched


APP_WIDE = {"serving/middleware.py"}  # metrics and the body limit run for every route, not the predict path


def test_a_prediction_touches_at_most_four_project_files(project, instance):
    from serving.app import create_app
    from serving.config import ServingConfig
    from tests.conftest import run_graph

    assert run_graph(instance).success
    app = create_app(ServingConfig(paths=project))
    app.state.store.poll_once()
    touched = files_touched_by_one_predict(app)
    assert APP_WIDE <= touched  # the tracer sees them; they are counted out by name, nothing else is
    predict_path = touched - APP_WIDE
    assert "yts_assets/ml/models.py" in predict_path and "serving/routers/predictions.py" in predict_path
    assert len(predict_path) <= 4, sorted(predict_path)
