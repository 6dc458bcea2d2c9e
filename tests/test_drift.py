"""Shared drift logic: sampled rows are not a risk; shifted batches are."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from yts_assets.ml.dataset import load_raw, process
from yts_assets.ml.drift import drift_report
from yts_assets.ml.policy import DriftThresholds
from yts_assets.ml.reports import training_baseline


@pytest.fixture(scope="module")
def real_processed(real_csv) -> pd.DataFrame:
    return process(load_raw(real_csv).frame).frame


@pytest.fixture(scope="module")
def baseline(real_processed) -> dict:
    return json.loads(json.dumps(training_baseline(real_processed)))


@pytest.fixture(scope="module")
def sample(real_processed) -> list[dict]:
    rows = real_processed[["uploads", "age", "category", "country"]].sample(500, random_state=7)
    return json.loads(rows.to_json(orient="records"))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rows_sampled_from_the_dataset_are_not_a_drift_risk(real_processed, baseline, seed):
    rows = real_processed[["uploads", "age", "category", "country"]].sample(500, random_state=seed)
    summary = drift_report(json.loads(rows.to_json(orient="records")), baseline)["summary"]
    assert summary["is_drift_risk"] is False
    assert summary["total"] == 500 and summary["drifted_features"] == []


def test_uploads_times_100_is_a_drift_risk(baseline, sample):
    summary = drift_report([{**r, "uploads": r["uploads"] * 100} for r in sample], baseline)["summary"]
    assert summary["is_drift_risk"] and summary["drifted_features"] == ["uploads"]
    assert summary["batch_severity"] == "high"


def test_unseen_countries_are_a_drift_risk(baseline, sample):
    report = drift_report([{**r, "country": "Atlantis"} for r in sample], baseline)
    assert report["summary"]["is_drift_risk"] and "country" in report["summary"]["drifted_features"]
    assert all("country unseen ('Atlantis')" in record["flags"] for record in report["records"])


def test_a_batch_of_one_category_is_a_drift_risk(baseline, sample):
    summary = drift_report([{**r, "category": "Music"} for r in sample], baseline)["summary"]
    assert summary["is_drift_risk"] and summary["drifted_features"] == ["category"]


def test_record_severity_contract(baseline):
    typical = {"uploads": 800, "age": 10, "category": "Music", "country": "India"}
    rare = {**typical, "country": "Samoa"}
    extreme = {**typical, "uploads": 1e12, "country": "Nowhere"}
    records = drift_report([typical, rare, extreme], baseline, DriftThresholds(min_category_frequency=0.01))["records"]
    assert [r["severity"] for r in records] == ["low", "medium", "high"]
    assert records[2]["z_scores"]["uploads"] > 3
    assert records[0]["category_frequency"]["category"] == pytest.approx(baseline["categorical"]["category"]["frequencies"]["Music"], abs=1e-4)


def test_categories_match_case_insensitively(baseline):
    upper = drift_report([{"uploads": 800, "age": 10, "category": "MUSIC", "country": " india "}], baseline)["records"][0]
    assert upper["severity"] == "low" and upper["flags"] == []


def test_empty_batch_and_small_batch(baseline, sample):
    assert drift_report([], baseline)["summary"]["total"] == 0
    small = drift_report(sample[:20], baseline)["summary"]
    assert small["psi_used_for_risk"] is False and small["is_drift_risk"] is False
