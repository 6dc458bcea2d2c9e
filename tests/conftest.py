"""Shared fixtures: an isolated project root per test, the real dataset, and graph runs through training_job."""

from __future__ import annotations

import os
import shutil
from collections import Counter

# Two xdist workers (pyproject's addopts) and the servers, daemons and worker processes the tests start share the
# cores: OpenMP threads that spin at barriers while a sibling thread waits for a core slow scikit-learn's fits down
# many times over. Sleep instead; set before anything loads OpenMP, and inherited by every subprocess.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
# For the same reason the yts-run processes the tests start fit in process: a worker pool per run (yts-run's default
# on two cores) would only add processes to busy cores. tests/test_cli.py runs the default and YTS_WORKERS=2.
os.environ.setdefault("YTS_WORKERS", "0")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from dagster import AssetSelection, DagsterInstance, ExecuteInProcessResult  # noqa: E402

from yts_assets.core import config  # noqa: E402
from yts_assets.core.files import sha256_file  # noqa: E402
from yts_assets.core.paths import REAL_CSV_NAME, ProjectPaths  # noqa: E402
from yts_assets.definitions import TRAINING_JOB, build_definitions  # noqa: E402
from yts_assets.resources import GatePolicyResource, YtsSettings  # noqa: E402
from yts_assets.tracking import ExperimentTracking  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
# Read once, before any fixture isolates the environment.
DATA_PATH_AT_START = config.DATA_PATH.get()


# Under xdist, whole files go to the workers (--dist loadfile) in collection order (--no-loadscope-reorder): the
# longest files (their summed durations, `--durations=0`) start first, so that neither worker is left with one of
# them at the end.
FIRST_UNDER_XDIST = ("test_e2e_daemon.py", "test_scale_out.py", "test_tracking_hpo.py", "test_cli.py",
                     "test_automation.py", "test_gates.py", "test_graph.py", "test_backup.py", "test_concurrent_runs.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # schemathesis 4 on pytest 9 gives every operation of a `schema.parametrize()` test the same node id (the
    # operation is only in the item's name). xdist hands tests out by node id, so it would run one operation of
    # tests/test_hostile_input.py::test_openapi_property_based instead of all: give each item its own id.
    seen = Counter(item.nodeid for item in items)
    for item in items:
        if seen[item.nodeid] > 1 and item.parent is not None and not item.nodeid.endswith(f"::{item.name}"):
            item._id = type(item._id).parse(f"{item.parent.nodeid}::{item.name}")
    assert len({item.nodeid for item in items}) == len(items), "two tests with one node id: xdist would run one"
    if hasattr(config, "workerinput"):  # an xdist worker: its collection order is the order files are handed out
        first = {name: rank for rank, name in enumerate(FIRST_UNDER_XDIST)}
        items.sort(key=lambda item: first.get(item.path.name, len(first)))


def real_csv_candidates() -> list[Path]:
    """Where the real-data tests look, in order: YTS_DATA_PATH, data/, ../shared/data/."""
    candidates = [DATA_PATH_AT_START] if DATA_PATH_AT_START else []
    return candidates + [REPO_ROOT / "data" / REAL_CSV_NAME, REPO_ROOT.parent / "shared" / "data" / REAL_CSV_NAME]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProjectPaths:
    """An empty project root with its own artifacts; demo data unless a test asks for the real CSV."""
    monkeypatch.setenv("YTS_PROJECT_ROOT", str(tmp_path))
    monkeypatch.setenv("YTS_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    monkeypatch.delenv("YTS_DATA_PATH", raising=False)
    (tmp_path / "data").mkdir()
    return ProjectPaths.from_env()


@pytest.fixture(scope="session")
def real_csv() -> Path:
    candidates = real_csv_candidates()
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        tried = ", ".join(str(p) for p in candidates)
        if os.environ.get("CI"):  # CI's own flag, not a yts setting
            pytest.fail(f"CI must run the real-data tests, but the dataset is not at any of: {tried}")
        pytest.skip(f"real dataset not found (tried {tried}); set YTS_DATA_PATH")
    return found


@pytest.fixture
def use_real_data(project: ProjectPaths, real_csv: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("YTS_DATA_PATH", str(real_csv))
    return real_csv


@pytest.fixture(scope="session")
def instance() -> DagsterInstance:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def run_graph(instance: DagsterInstance, selection: str | AssetSelection | None = None, run_config: dict | None = None,
              settings: YtsSettings | None = None, tracking: ExperimentTracking | None = None,
              gate_policy: GatePolicyResource | None = None, tags: dict[str, str] | None = None) -> ExecuteInProcessResult:
    """Run the code location's training_job in-process, like yts-run (a selection runs a subset of it);
    assets outside training_job (hpo_study) run through the implicit asset job."""
    defs = build_definitions(settings=settings, tracking=tracking, gate_policy=gate_policy)
    job = defs.resolve_job_def(TRAINING_JOB)
    if selection is not None:
        chosen = AssetSelection.assets(selection) if isinstance(selection, str) else selection
        graph = defs.resolve_asset_graph()
        assets, checks = chosen.resolve(graph), chosen.resolve_checks(graph)
        if not assets <= job.asset_layer.selected_asset_keys:
            job = defs.resolve_implicit_global_asset_job_def()
        job = job.get_subset(asset_selection=assets, asset_check_selection=checks)
    return job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False, tags=tags)


def tree_hashes(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under folder, to prove nothing changed."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()
            and p.name != ".registry.lock"}


def another_training(seed: int = 7, **gate_policy: object) -> dict:
    """Run config for a run that differs from the last (another CV seed, so other models) and that the champion gate
    lets through: for tests that need two published runs and are not testing the gate."""
    gate = {"champion_tolerance": 1.0, "champion_noise_k": 100.0, **gate_policy}
    return {"ops": {"supervised_bundle": {"config": {"random_seed": seed}}},
            "resources": {"gate_policy": {"config": gate}}}


def train_project(root: Path, *run_configs: dict | None) -> tuple[ProjectPaths, list[str]]:
    """A project under `root` with one training run per run config (None: the defaults), on demo data;
    for module-scoped fixtures that serve published runs."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YTS_PROJECT_ROOT", str(root))
        patch.setenv("YTS_ARTIFACT_DIR", str(root / "artifacts"))
        patch.delenv("YTS_DATA_PATH", raising=False)
        with DagsterInstance.ephemeral() as instance:
            results = [run_graph(instance, run_config=run_config) for run_config in run_configs]
    assert all(result.success for result in results)
    return ProjectPaths(root=root, artifact_dir=root / "artifacts"), [result.run_id for result in results]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One published run on demo data with the default configuration, trained once per session. Never changed: tests
    get a copy through `first_run`."""
    paths, (run_id,) = train_project(tmp_path_factory.mktemp("demo-run"), None)
    return {"root": paths.root, "run_id": run_id}


@pytest.fixture
def first_run(project: ProjectPaths, demo_run: dict) -> str:
    """The test's project as `run_graph(instance)` on demo data leaves it, copied from `demo_run`: its run id."""
    shutil.copytree(demo_run["root"], project.root, dirs_exist_ok=True)
    return demo_run["run_id"]


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, demo_run: dict) -> dict:
    """Two published runs (A, then B active), once per session on demo data: a copy of demo_run (A), then B trained
    over it. Copy before tampering."""
    root = tmp_path_factory.mktemp("trained")
    shutil.copytree(demo_run["root"], root, dirs_exist_ok=True)
    paths, (second,) = train_project(root, another_training())
    return {"root": paths.root, "a": demo_run["run_id"], "b": second}
