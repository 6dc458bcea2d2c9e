"""Implausible training data is stopped even with no champion; training data is compared with what serves."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import run_graph
from yts_assets.core.paths import ProjectPaths
from yts_assets.core.registry import find_run, load_registry
from yts_assets.ml.demo import generate_demo_frame


def evaluations(result) -> dict:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_impossible_uploads_are_refused_with_no_champion(project: ProjectPaths, instance, monkeypatch, tmp_path):
    frame = generate_demo_frame()
    frame.loc[:4, "uploads"] = 1e12  # passes the schema, the null rates and the non-negative check
    frame.to_csv(tmp_path / "implausible.csv", index=False, encoding="latin-1")
    monkeypatch.setenv("YTS_DATA_PATH", str(tmp_path / "implausible.csv"))
    result = run_graph(instance)
    assert not result.success
    check = evaluations(result)["values_plausible"]
    assert not check.passed and check.severity.value == "ERROR"
    assert "uploads > 1e+07 in 5 rows" in check.description and "the API accepts at most" in check.description
    registry = load_registry(project)
    assert registry["active_run_id"] is None and find_run(registry, result.run_id)["status"] == "rejected"


@pytest.mark.slow
def test_training_data_is_compared_with_the_serving_run(project: ProjectPaths, instance, use_real_data, monkeypatch,
                                                        tmp_path):
    first = run_graph(instance)
    assert first.success and evaluations(first)["training_data_drift"].passed  # no serving run yet

    same = run_graph(instance)
    assert evaluations(same)["training_data_drift"].passed

    one_category = pd.read_csv(use_real_data, encoding="latin-1")
    one_category["category"] = "Music"
    one_category.to_csv(tmp_path / "music.csv", index=False, encoding="latin-1")
    monkeypatch.setenv("YTS_DATA_PATH", str(tmp_path / "music.csv"))
    blocked = run_graph(instance)
    check = evaluations(blocked)["training_data_drift"]
    assert not blocked.success and not check.passed and check.severity.value == "ERROR"
    assert "category" in check.description and check.metadata["serving_run_id"].value == first.run_id  # same: unchanged

    more_uploads = pd.read_csv(use_real_data, encoding="latin-1")
    more_uploads["uploads"] = more_uploads["uploads"] * 4  # PSI about 0.48: drifted, but not past the block
    more_uploads.to_csv(tmp_path / "uploads_x4.csv", index=False, encoding="latin-1")
    monkeypatch.setenv("YTS_DATA_PATH", str(tmp_path / "uploads_x4.csv"))
    shifted = run_graph(instance)
    check = evaluations(shifted)["training_data_drift"]
    assert not check.passed and check.severity.value == "WARN" and "uploads" in check.description
    record = find_run(load_registry(project), shifted.run_id) or {}
    assert all(not c["check"].endswith(":training_data_drift") for c in record.get("failing_checks", []))  # a WARN never blocks
