"""The opt-in Feast online store: repo config from ProjectPaths, the feast_online_store asset, and
GET /channels/{channel_id}/prediction against a trained, materialized project."""

from __future__ import annotations

import importlib.util
import os

import pandas as pd
import pytest
from dagster import AssetSelection
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.config import ServingConfig
from yts_assets.core.paths import ProjectPaths
from yts_assets.ml import feast_store
from yts_assets.ml.dataset import read_processed

from .conftest import run_graph

if importlib.util.find_spec("feast") is None:
    if os.environ.get("CI"):  # CI's own flag, not a yts setting: there, feast must be installed
        pytest.fail("feast is not installed: pip install -e '.[test]'", pytrace=False)
    pytest.skip("feast is not installed: pip install -e '.[feast]'", allow_module_level=True)


def test_repo_config_lives_under_the_artifact_dir(project: ProjectPaths):
    config = feast_store.repo_config(project)
    folder = project.artifact_dir / "feast"
    assert config.project == "yts" and config.provider == "local"
    assert config.registry.path == str(folder / "registry.db")
    assert config.online_store.path == str(folder / "online_store.db")
    views = feast_store.definitions(project)
    assert views["channel_source"].path == str(folder / "feature_snapshot.parquet")
    assert views["channel"].join_key == "channel_id"
    assert sorted(f.name for f in views["channel_features"].schema) == sorted(feast_store.FEATURES)
    assert not feast_store.is_materialized(project)


def test_parquet_frame_has_utc_timestamps_and_int_uploads():
    frame = feast_store.to_parquet_frame(pd.DataFrame({
        "channel_id": ["ch_a", "ch_b"], "youtuber": ["a", "b"], "uploads": [10.0, 3.4], "category": ["Music", None],
        "country": ["India", "Brazil"], "age": [5.0, 7.5], "event_timestamp": ["2023-12-31T00:00:00+00:00"] * 2}))
    assert str(frame["event_timestamp"].dt.tz) == "UTC"
    assert frame["uploads"].tolist() == [10, 3]
    assert list(frame.columns) == ["channel_id", *feast_store.FEATURES, "event_timestamp"]


@pytest.mark.slow
def test_online_store_serves_the_same_prediction_as_predict(project: ProjectPaths, instance):
    assert run_graph(instance).success
    with TestClient(create_app(ServingConfig(paths=project, capture_enabled=False))) as client:
        before = client.get("/channels/ch_000000000000/prediction")
        assert before.status_code == 503 and "feast_online_store" in before.json()["detail"], before.text
    result = run_graph(instance, AssetSelection.assets("feast_online_store"))
    assert result.success
    [materialization] = result.asset_materializations_for_node("feast_online_store")
    assert materialization.metadata["rows"].value > 0
    assert feast_store.is_materialized(project)

    snapshot = read_processed(next(project.artifact_dir.glob("candidates/*/reports/feature_store_snapshot.csv")))
    row = snapshot.iloc[0]
    inputs = {"uploads": int(round(float(row["uploads"]))), "category": str(row["category"]),
              "country": str(row["country"]), "age": int(round(float(row["age"])))}
    with TestClient(create_app(ServingConfig(paths=project, capture_enabled=False))) as client:
        expected = client.post("/predict", json=inputs)
        assert expected.status_code == 200, expected.text
        got = client.get(f"/channels/{row['channel_id']}/prediction")
        assert got.status_code == 200, got.text
        body = got.json()
        for name in ("predicted_subscribers", "predicted_earnings", "predicted_growth", "run_id"):
            assert body[name] == expected.json()[name], name
        assert body["channel_id"] == row["channel_id"]
        assert body["features"]["category"] == inputs["category"] and body["features"]["country"] == inputs["country"]
        assert isinstance(body["warnings"], list)
        assert client.get("/channels/ch_000000000000/prediction").status_code == 404
        assert client.get("/channels/bad id!/prediction").status_code == 422
        assert client.get(f"/channels/{'x' * 65}/prediction").status_code == 422
