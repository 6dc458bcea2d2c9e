"""Shared fixtures: an isolated project root per test, and the real dataset from ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from yts_assets.assets.models import hpo_study
from yts_assets.definitions import TRAINING_ASSETS, ALL_CHECKS
from yts_assets.ml.settings import ProjectPaths
from yts_assets.resources import YtsSettings
from yts_assets.tracking import ExperimentTracking

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_CSV = REPO_ROOT.parent / "shared" / "data" / "Global YouTube Statistics.csv"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProjectPaths:
    """An empty project root with its own artifacts; no real data unless a test asks for it."""
    monkeypatch.setenv("YTS_PROJECT_ROOT", str(tmp_path))
    monkeypatch.setenv("YTS_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    monkeypatch.delenv("YTS_DATA_PATH", raising=False)
    (tmp_path / "data").mkdir()
    return ProjectPaths.from_env()


@pytest.fixture(scope="session")
def real_csv() -> Path:
    if not REAL_CSV.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the real-data tests, but {REAL_CSV} is missing")
        pytest.skip(f"real dataset not present at {REAL_CSV}")
    return REAL_CSV


@pytest.fixture
def use_real_data(project: ProjectPaths, real_csv: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("YTS_DATA_PATH", str(real_csv))
    return real_csv


@pytest.fixture(scope="session")
def instance() -> DagsterInstance:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def run_graph(instance: DagsterInstance, selection: str | None = None, run_config: dict | None = None,
              settings: YtsSettings | None = None, tracking: ExperimentTracking | None = None):
    """Materialize the graph in-process, like the main job, and return the result."""
    return materialize(
        [*TRAINING_ASSETS, hpo_study, *ALL_CHECKS],
        selection=selection or AssetSelection.assets(*TRAINING_ASSETS),
        instance=instance,
        resources={"settings": settings or YtsSettings(), "tracking": tracking or ExperimentTracking()},
        run_config=run_config,
        raise_on_error=False,
    )


def tree_hashes(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under folder, to prove nothing changed."""
    from yts_assets.ml.files import sha256_file

    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()
            and p.name != ".registry.lock"}
