"""Shared fixtures: an isolated project root per test, the real dataset, and graph runs through training_job."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dagster import AssetSelection, DagsterInstance, ExecuteInProcessResult

from yts_assets.core import config
from yts_assets.core.files import sha256_file
from yts_assets.core.paths import REAL_CSV_NAME, ProjectPaths
from yts_assets.definitions import TRAINING_JOB, build_definitions
from yts_assets.resources import GatePolicyResource, YtsSettings
from yts_assets.tracking import ExperimentTracking

REPO_ROOT = Path(__file__).resolve().parents[1]
# Read once, before any fixture isolates the environment.
DATA_PATH_AT_START = config.DATA_PATH.get()


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
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two published runs (A, then B active), trained once per session on demo data. Copy before tampering."""
    paths, (first, second) = train_project(tmp_path_factory.mktemp("trained"), None, another_training())
    return {"root": paths.root, "a": first, "b": second}
