"""Shared drift logic: sampled rows are not a risk; shifted batches are."""

from __future__ import annotations

import json
import tracemalloc

import pandas as pd
import pytest

from yts_assets.ml.dataset import load_raw, process
from yts_assets.ml.drift import DriftAccumulator, drift_report, drift_summary
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


def test_the_summary_from_chunks_and_merges_is_drift_reports_exactly(baseline, sample):
    hostile = [{"uploads": None, "age": "old", "category": " MUSIC ", "country": ""},
               {"uploads": -5, "age": 1e9, "category": ["x"], "country": None}, {"uploads": "12", "age": True}]
    shifted = [{**r, "uploads": r["uploads"] * 100, "country": "Atlantis"} for r in sample[:150]]
    records = sample + hostile + shifted
    expected = drift_report(records, baseline)["summary"]
    chunked = DriftAccumulator(baseline, chunk_records=7)
    for record in records:
        chunked.push(record)
    halves = DriftAccumulator(baseline)
    halves.add(records[:301])
    rest = DriftAccumulator(baseline)
    rest.add(records[301:])
    halves.merge(rest)
    assert chunked.summary() == halves.summary() == drift_summary(records, baseline) == expected
    assert expected["total"] == len(records) and expected["is_drift_risk"]


def test_a_summary_of_many_records_keeps_no_record(baseline, sample):
    accumulator = DriftAccumulator(baseline, chunk_records=1_000)
    tracemalloc.start()
    try:
        for i in range(200):  # 100,000 new values: kept, even without their records, they would take about 6 MiB
            accumulator.add([{**r, "uploads": r["uploads"] + i + 0.5} for r in sample])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert accumulator.summary()["total"] == 100_000
    assert peak < 1 << 20, f"{peak / (1 << 20):.1f} MiB traced"  # one chunk of 1,000 and one input list of 500


def test_columns_give_the_summary_of_the_same_records(baseline, sample):
    hostile = [{"uploads": None, "age": "old", "category": " MUSIC ", "country": ""},
               {"uploads": -5, "age": 1e9, "category": ["x"], "country": None}, {"uploads": "12", "age": True},
               {"uploads": float("nan"), "age": 3, "category": pd.NA, "country": 7}]
    shifted = [{**r, "uploads": r["uploads"] * 100, "country": "Atlantis"} for r in sample[:150]]
    records = sample + hostile + shifted
    names = ["uploads", "age", "category", "country"]
    as_lists = {name: [r.get(name) for r in records] for name in names}
    expected = drift_summary(records, baseline)
    for chunk_records in (7, 65_536):
        listed = DriftAccumulator(baseline, chunk_records=chunk_records)
        listed.add_columns(as_lists)
        arrays = DriftAccumulator(baseline, chunk_records=chunk_records)  # object arrays: by distinct value
        arrays.add_columns({name: pd.Series(values, dtype=object) for name, values in as_lists.items()})
        assert listed.summary() == arrays.summary() == expected
    clean = pd.DataFrame(sample)  # typed columns: floats and pandas strings, as the processed table holds them
    typed = DriftAccumulator(baseline, chunk_records=64)
    typed.add_columns({"uploads": clean["uploads"].astype(float), "age": clean["age"].to_numpy(),
                       "category": clean["category"].astype("string"), "country": clean["country"].astype("string")})
    assert typed.summary() == drift_summary(sample, baseline)


def test_a_column_left_out_is_missing_and_lengths_must_agree(baseline, sample):
    without_country = [{k: v for k, v in r.items() if k != "country"} for r in sample]
    accumulator = DriftAccumulator(baseline)
    accumulator.add_columns({name: [r[name] for r in sample] for name in ("uploads", "age", "category")})
    assert accumulator.summary() == drift_summary(without_country, baseline)
    with pytest.raises(ValueError, match="different lengths"):
        DriftAccumulator(baseline).add_columns({"uploads": [1, 2], "age": [1]})


def test_training_drift_is_the_summary_of_the_tables_records(real_processed, baseline):
    from yts_assets.core.registry import ServingBaseline
    from yts_assets.ml.quality import training_drift

    table = real_processed.copy()
    table.loc[::3, "uploads"] *= 100
    table.loc[::4, "country"] = "Atlantis"
    records = table[["uploads", "age", "category", "country"]].astype(object).to_dict("records")
    outcome = training_drift(table, ServingBaseline("run-1", baseline), DriftThresholds())
    summary = drift_summary(records, baseline)
    assert outcome.metadata["psi"] == summary["psi"] and outcome.metadata["drifted_features"] == ["country", "uploads"]
    assert summary["drifted_features"] == ["country", "uploads"] and not outcome.passed
