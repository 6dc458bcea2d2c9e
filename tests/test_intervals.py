"""Issue 15 at the model level: input schemas, conformal intervals, honest metrics, tuning that must earn its place."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import skops.io
from threadpoolctl import threadpool_limits

from yts_assets.ml import model_card, model_quality
from yts_assets.ml.dataset import process
from yts_assets.ml.demo import generate_demo_frame
from yts_assets.ml.features import CONTRACT_SCHEMA, EXTENDED_SCHEMA
from yts_assets.ml.models import FeatureEncoder, SupervisedModel
from yts_assets.ml.policy import SkillMinimums
from yts_assets.ml.training import (
    TargetData,
    TrainingConfig,
    available_schemas,
    conformal_half_width,
    cross_validate,
    outer_folds,
    train_supervised,
)

FAST = TrainingConfig(max_iter=10)


@pytest.fixture(scope="module")
def processed():
    return process(generate_demo_frame()).frame


@pytest.fixture(scope="module")
def trained(processed):
    return train_supervised(processed, FAST)


def test_conformal_half_width_is_the_finite_sample_quantile():
    residuals = np.random.default_rng(0).normal(size=99)
    rank = math.ceil((len(residuals) + 1) * 0.75)  # split conformal: the ceil((n+1)(1-alpha))-th smallest |residual|
    assert conformal_half_width(residuals, 0.75) == np.sort(np.abs(residuals))[rank - 1]
    with pytest.raises(ValueError, match="too few"):
        conformal_half_width(np.array([0.1, 0.2]), 0.8)


def test_a_fold_never_calibrates_its_own_interval(processed):
    encoder = FeatureEncoder.fit(processed)
    data = TargetData.of(encoder, processed, "earnings")
    _, fold0 = outer_folds(len(data.log_target), FAST)[0]
    labels = data.log_target.copy()
    labels[fold0] += 5.0  # whatever fold 0's labels are, the interval it is scored with stays the same
    with threadpool_limits(limits=1):
        before = cross_validate(data, CONTRACT_SCHEMA, FAST)
        after = cross_validate(TargetData(data.target, data.column, data.features, labels), CONTRACT_SCHEMA, FAST)
    assert after.fold_metrics[0]["interval_half_width_log"] == before.fold_metrics[0]["interval_half_width_log"]
    assert after.fold_metrics[1]["interval_half_width_log"] != before.fold_metrics[1]["interval_half_width_log"]


def test_every_schema_and_target_reports_coverage_segment_and_percentage_error(trained):
    model, results = trained
    assert model.schemas == (CONTRACT_SCHEMA, EXTENDED_SCHEMA) and model.interval_coverage == 0.8
    for schema, by_target in results.items():
        for target, result in by_target.items():
            interval = result.interval
            assert 0 < interval["median_width"] and 0.5 < interval["coverage"] <= 1, (schema, target)
            assert interval["half_width_log"] == model.intervals[schema][target] > 0
            assert result.segment["rows"] <= result.rows and result.segment["model"]["mdape"] >= 0
    earnings = results[CONTRACT_SCHEMA]["earnings"]
    assert earnings.zero_labels["rows"] == 6 and earnings.segment["rows"] == earnings.rows - 6  # the demo's 6 zero earners
    assert 0 <= earnings.zero_labels["roc_auc"] <= 1


def test_rows_are_served_by_the_richest_schema_they_give_in_full(trained):
    model, _ = trained
    features = model.encode([100, 100], [10, 10], ["Music", "Music"], ["India", "India"],
                            channel_type=["Music", None], video_views=[1e9, None], video_views_last_30_days=[1e7, None])
    predictions = model.predict_rows(features, np.array([True, False]))
    assert predictions.schemas == [EXTENDED_SCHEMA, CONTRACT_SCHEMA]
    extended = model.predict_encoded(features[:1], EXTENDED_SCHEMA)
    contract = model.predict_encoded(features[1:], CONTRACT_SCHEMA)
    for target in ("subscribers", "earnings", "growth"):
        assert predictions.values[target][0] == extended[target][0]
        assert predictions.values[target][1] == contract[target][0]
        assert (predictions.lower[target] <= predictions.values[target]).all()
        assert (predictions.values[target] <= predictions.upper[target]).all()
    assert model.unknown_inputs(model.encode([1], [1], ["Music"], ["India"], channel_type=["Vlogs?"], video_views=[1],
                                             video_views_last_30_days=[1]), np.array([True])) == [["channel_type"]]


def test_data_without_the_richer_columns_trains_the_contract_schema_only(processed):
    reduced = processed.drop(columns=["video_views"])
    assert available_schemas(reduced) == (CONTRACT_SCHEMA,)
    model, results = train_supervised(reduced, FAST)
    assert model.schemas == (CONTRACT_SCHEMA,) and set(results) == {CONTRACT_SCHEMA}
    assert model.predict_rows(model.encode([1], [1], ["Music"], ["India"]), np.array([True])).schemas == [CONTRACT_SCHEMA]


def test_a_format_2_model_still_serves_without_intervals(tmp_path: Path, trained):
    model, _ = trained
    state = {"encoder": {"categories": list(model.encoder.categories), "countries": list(model.encoder.countries)},
             "regressors": model.regressors[CONTRACT_SCHEMA], "metrics": {}, "hyperparameters": {"source": "defaults"},
             "config": {}, "feature_importance": {}, "target_transform": "log1p"}
    skops.io.dump({"kind": SupervisedModel.KIND, "format": 2, "state": state}, tmp_path / "old.skops")
    old = SupervisedModel.load(tmp_path / "old.skops")
    assert old.schemas == (CONTRACT_SCHEMA,) and old.probe()[0]
    predictions = old.predict_rows(old.encode([5], [3], ["Music"], ["India"]), np.array([True]))
    assert predictions.lower is None and predictions.schemas == [CONTRACT_SCHEMA]
    assert predictions.values["earnings"][0] == model.predict_encoded(model.encode([5], [3], ["Music"], ["India"]))["earnings"][0]


def test_tuned_parameters_that_score_worse_than_the_defaults_are_never_used(processed):
    bad = {"max_iter": 1, "learning_rate": 0.01}
    tuned = {target: {"folds": [bad] * FAST.cv_folds, "refit": bad} for target in ("earnings", "growth")}
    model, results = train_supervised(processed, FAST, tuned)
    assert model.hyperparameter_source == "defaults" and model.hyperparameters["adopted"] == []
    for schema, by_target in results.items():
        for target in tuned:
            decision = by_target[target].tuning
            assert decision["tuned_log_r2"] < decision["default_log_r2"], (schema, target)
            assert not decision["adopted"] and decision["reason"].startswith("defaults kept"), (schema, target)
            assert model.regressors[schema][target].max_iter == FAST.max_iter
            assert model.hyperparameters["refit_by_schema"][schema][target]["max_iter"] == FAST.max_iter
            assert model.metrics[schema][target]["model"]["log_r2"] == decision["default_log_r2"] or \
                round(model.metrics[schema][target]["model"]["log_r2"], 4) == decision["default_log_r2"]


def test_tuned_parameters_that_clearly_beat_the_defaults_are_used(processed):
    weak_defaults = TrainingConfig(max_iter=2, learning_rate=0.02)
    good = {"max_iter": 40, "learning_rate": 0.1}
    tuned = {"earnings": {"folds": [good] * weak_defaults.cv_folds, "refit": good}}
    model, results = train_supervised(processed, weak_defaults, tuned)
    assert results[CONTRACT_SCHEMA]["earnings"].tuning["adopted"]
    assert model.regressors[CONTRACT_SCHEMA]["earnings"].max_iter == 40
    assert model.regressors[CONTRACT_SCHEMA]["growth"].max_iter == 2 and model.hyperparameter_source == "optuna"
    assert "contract/earnings" in model.hyperparameters["adopted"]


def coverage_metrics(coverage: float) -> dict:
    return {"contract": {"growth": {"interval": {"coverage": coverage, "nominal_coverage": 0.8, "median_width": 10.0}}}}


def test_interval_coverage_warns_past_five_points_and_blocks_past_the_configured_gap():
    minimums = SkillMinimums()
    assert model_quality.interval_coverage(coverage_metrics(0.83), minimums).passed
    warned = model_quality.interval_coverage(coverage_metrics(0.72), minimums)
    assert not warned.passed and warned.warn_only and "contract/growth 0.720 against 0.80" in warned.description
    blocked = model_quality.interval_coverage(coverage_metrics(0.95), minimums)
    assert not blocked.passed and not blocked.warn_only
    assert model_quality.interval_coverage(coverage_metrics(0.95), SkillMinimums(coverage_blocking_gap=0.2)).warn_only


def test_skill_is_judged_on_the_segment_that_matters(trained):
    model, _ = trained
    metrics = model.metrics[CONTRACT_SCHEMA]["earnings"]
    outcome = model_quality.skill_over_baseline("earnings", metrics)
    assert outcome.metadata["model_log_r2"] == round(metrics["segment"]["model"]["log_r2"], 4)
    assert "earners" in outcome.description and "zero labels told apart with ROC AUC" in outcome.description


def test_the_model_card_states_limits_and_the_gate(trained):
    model, _ = trained
    report = {"supervised_by_schema": model.metrics, "interval_coverage": 0.8,
              "hyperparameters": model.hyperparameters}
    checks = [model_card.CheckSummary("supervised_bundle:interval_coverage", True, True, "within 0.05")]
    source = {"kind": "demo", "path": "/x.csv", "sha256": "a" * 64, "rows": 995}
    text = model_card.render("run-1", source, report, checks, "manual")
    assert text.startswith("# Model card: run run-1")
    assert "| extended | growth |" in text and "derived from each channel's views in the last 30 days" in text
    assert "pass (blocking) `supervised_bundle:interval_coverage`" in text and "as a candidate a person promotes" in text
    assert text == model_card.render("run-1", source, report, checks, "manual")
