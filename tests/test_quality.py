"""Every data and model check's pass and fail paths, as plain functions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from yts_assets.core.files import sha256_file
from yts_assets.ml import model_quality, quality
from yts_assets.ml.dataset import process
from yts_assets.ml.demo import generate_demo_frame
from yts_assets.ml.models import ModelFormatError, SupervisedModel, safe_path, write_model_files
from yts_assets.ml.policy import GatePolicy, QualityLimits

THRESHOLDS = QualityLimits()


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return generate_demo_frame()


@pytest.fixture(scope="module")
def processed(raw: pd.DataFrame) -> pd.DataFrame:
    return process(raw).frame


def test_raw_schema(raw):
    assert quality.raw_schema(raw).passed
    outcome = quality.raw_schema(raw.drop(columns=["Latitude"]).assign(extra=1))
    assert not outcome.passed
    assert outcome.metadata["missing_columns"] == ["Latitude"]
    assert outcome.metadata["unexpected_columns"] == ["extra"]
    assert "Latitude" in outcome.description


def test_row_count(raw):
    assert quality.row_count(raw, THRESHOLDS).passed
    outcome = quality.row_count(raw.head(10), THRESHOLDS)
    assert not outcome.passed and outcome.metadata["rows"] == 10 and "outside 100..1000000" in outcome.description


def test_duplicate_channels(raw):
    assert quality.duplicate_channels(raw).passed
    doubled = pd.concat([raw, raw.head(3).assign(Youtuber=raw.head(3)["Youtuber"].str.upper())])
    outcome = quality.duplicate_channels(doubled)
    assert not outcome.passed
    assert outcome.metadata["duplicate_rows"] == 3
    assert "3 duplicate rows over 3 channels" == outcome.description


def test_duplicate_channels_count_rows_and_channels_as_duplicated_does(raw):
    names = ["A", " a ", "b", "B", "b", "c", "Ä", "ä", "SS", "ß"]
    frame = pd.DataFrame({"Youtuber": names * 2 + ["only once"]})
    found = quality.ChannelDuplicates.of(frame)
    keys = frame["Youtuber"].str.strip().str.casefold()
    assert found.duplicate_rows == int(keys.duplicated().sum()) == 15
    assert found.channels == int(keys[keys.duplicated(keep=False)].nunique()) == 5
    assert found.examples == sorted(set(names))
    assert quality.ChannelDuplicates.of(raw) == quality.ChannelDuplicates(0, 0, [])


def test_null_rates(processed):
    assert quality.null_rates(processed, THRESHOLDS).passed
    holed = processed.copy()
    holed.loc[:9, "uploads"] = None
    outcome = quality.null_rates(holed, THRESHOLDS)
    assert not outcome.passed
    assert outcome.metadata["columns_over_limit"] == {"uploads": {"null_rate": 0.0101, "limit": 0.0}}


def test_non_negative(processed):
    assert quality.non_negative(processed).passed
    negative = processed.copy()
    negative.loc[:1, "highest_yearly_earnings"] = -5
    outcome = quality.non_negative(negative)
    assert not outcome.passed and outcome.metadata["negative_rows_by_column"] == {"highest_yearly_earnings": 2}


def test_created_year_range_warns_on_1970(processed):
    outcome = quality.created_year_range(processed, 2023)
    assert not outcome.passed and outcome.metadata["rows_outside"] == 1 and outcome.metadata["min_year"] == 1970
    assert quality.created_year_range(processed[processed["created_year"] != 1970], 2023).passed


def test_vocabulary(processed):
    assert quality.vocabulary(processed, THRESHOLDS).passed
    strange = processed.copy()
    strange.loc[:99, "country"] = "Atlantis"
    outcome = quality.vocabulary(strange, THRESHOLDS)
    assert not outcome.passed
    assert outcome.metadata["unknown_values"]["country"] == {"Atlantis": 100}


def test_known_labels(processed):
    assert quality.known_labels(processed, THRESHOLDS).passed
    unlabeled = processed.assign(growth_target=None)
    outcome = quality.known_labels(unlabeled, THRESHOLDS)
    assert not outcome.passed and outcome.metadata["known_labels"]["growth"] == 0


def metrics(model_r2: float, baseline_r2: float) -> dict:
    return {"rows": 100, "model": {"log_r2": model_r2, "log_mae": 1.0}, "baseline": {"log_r2": baseline_r2, "log_mae": 1.2}}


def test_skill_over_baseline():
    assert model_quality.skill_over_baseline("earnings", metrics(0.7, -0.1)).passed
    worse = model_quality.skill_over_baseline("subscribers", metrics(-0.2, -0.1))
    assert not worse.passed and "no useful skill" in worse.description and worse.metadata["skill"] == -0.1
    barely = model_quality.skill_over_baseline("subscribers", metrics(0.03, -0.08))
    assert not barely.passed and barely.metadata["skill"] == pytest.approx(0.11)


def test_champion_regression():
    candidate = {"earnings": [0.60, 0.62, 0.58, 0.61, 0.59], "growth": [0.64, 0.60, 0.66, 0.63, 0.65]}
    champion = {"earnings": [0.70, 0.71, 0.69, 0.70, 0.70], "growth": [0.64, 0.61, 0.65, 0.63, 0.64]}
    outcome = model_quality.champion_regression(candidate, champion, "champ", GatePolicy())
    assert not outcome.passed and outcome.metadata["regressed_targets"] == ["earnings"]
    assert outcome.description.startswith("regressed against champion champ: ")
    assert "earnings -0.100 (SE 0.004, margin 0.009, worse on 5/5 folds)" in outcome.description
    assert outcome.metadata["comparison"]["earnings"]["folds"][0] == {
        "fold": 0, "candidate_log_r2": 0.6, "champion_log_r2": 0.7, "difference": -0.1}
    assert model_quality.champion_regression(candidate, champion, "champ", GatePolicy(champion_tolerance=0.2,
                                                                                      champion_min_margin=0.1)).passed


def test_bundle_integrity(tmp_path: Path):
    from yts_assets.ml.training import TrainingConfig, fit_supervised, serialize_supervised

    fit = fit_supervised(process(generate_demo_frame()).frame, TrainingConfig(cv_folds=3, max_iter=5))
    digest = write_model_files(tmp_path / "bundle.joblib", *serialize_supervised(fit))
    path = safe_path(tmp_path / "bundle.joblib")
    assert digest == sha256_file(path) and (tmp_path / "bundle.joblib").is_file()
    outcome, summary = model_quality.inspect_bundle(path, digest)
    assert outcome.passed and set(outcome.metadata["probe_predictions"]) == {
        "subscribers", "earnings", "growth", "extended/subscribers", "extended/earnings", "extended/growth"}
    assert summary == fit.summary()  # what the run process reads of the saved model is what was trained
    for tampered in [model_quality.inspect_bundle(path, "0" * 64),
                     model_quality.inspect_bundle(tmp_path / "missing.skops", None)]:
        assert not tampered[0].passed and tampered[1] is None
    path.write_bytes(b"not a model")
    broken, summary = model_quality.inspect_bundle(path, None)
    assert not broken.passed and "does not load or predict" in broken.description and summary is None


def test_artifacts_match_manifest(tmp_path: Path):
    artifact = tmp_path / "a.bin"
    artifact.write_bytes(b"x")
    manifest = {"artifacts": {"a": {"path": str(artifact), "sha256": sha256_file(artifact)},
                              "b": {"path": str(tmp_path / "gone"), "sha256": "0" * 64}}}
    outcome = quality.artifacts_match_manifest(manifest)
    assert not outcome.passed and outcome.metadata["missing"] == ["b"]
    artifact.write_bytes(b"y")
    del manifest["artifacts"]["b"]
    assert quality.artifacts_match_manifest(manifest).metadata["mismatched"] == ["a"]


def test_model_files_carry_their_kind_and_format(tmp_path: Path):
    from yts_assets.ml.clustering import ClusteringConfig, train_clustering
    from yts_assets.ml.models import ClusteringModel
    from yts_assets.ml.training import TrainingConfig, train_supervised

    processed = process(generate_demo_frame()).frame
    model, _ = train_supervised(processed, TrainingConfig(cv_folds=3, max_iter=5))
    path = tmp_path / "supervised.joblib"
    model.save(path)
    loaded = SupervisedModel.load(path)
    expected = model.predict([10.0, 5000.0], [3.0, 12.0], ["Music", "Narnia"], ["India", "india"])
    for target, values in loaded.predict([10.0, 5000.0], [3.0, 12.0], ["Music", "Narnia"], ["India", "india"]).items():
        assert list(values) == list(expected[target])
    assert loaded.unknown_inputs(loaded.encode([1.0], [1.0], ["Narnia"], ["India"])) == [["category"]]
    with pytest.raises(ModelFormatError, match="is not a yts.clustering model"):
        ClusteringModel.load(path)

    clustering, _ = train_clustering(processed, ClusteringConfig())
    clustering.save(tmp_path / "clustering.joblib")
    assert ClusteringModel.load(tmp_path / "clustering.joblib").assign([[100, 1e6, 1e5, 1e3]])[0] in clustering.archetypes

    import skops.io

    skops.io.dump({"kind": SupervisedModel.KIND, "format": 1, "state": {}}, tmp_path / "old.skops")
    with pytest.raises(ModelFormatError, match="format 1, but this yts reads format 2, 3; retrain with yts-run"):
        SupervisedModel.load(tmp_path / "old.skops")
    skops.io.dump({"encoder": None, "models": {}}, tmp_path / "bundle_v1.skops")  # the untyped bundles of before
    with pytest.raises(ModelFormatError, match="is not a yts.supervised model"):
        SupervisedModel.load(tmp_path / "bundle_v1.skops")


class Payload:
    """Stands for anything a crafted model file could ask to construct."""


def test_a_crafted_model_file_is_refused_without_running_code(tmp_path: Path):
    import skops.io

    skops.io.dump({"kind": SupervisedModel.KIND, "format": 2, "state": {"x": Payload()}}, tmp_path / "crafted.skops")
    with pytest.raises(ModelFormatError, match="types yts does not trust: .*Payload"):
        SupervisedModel.load(tmp_path / "crafted.skops")
    (tmp_path / "pickle.joblib").write_bytes(b"cos\nsystem\n(S'touch /tmp/pwned'\ntR.")  # a classic pickle exploit
    (tmp_path / "pickle.skops").write_bytes((tmp_path / "pickle.joblib").read_bytes())
    with pytest.raises(ModelFormatError, match="not a readable skops model file"):
        SupervisedModel.load(tmp_path / "pickle.joblib")  # yts reads the .skops form, and that is no pickle
