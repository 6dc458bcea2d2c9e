"""Input schemas in the API (issue 15): each row is served by the richest schema whose inputs it gives in full
(`contract`: uploads, category, country, age; `extended`: also channel_type, video_views, video_views_last_30_days),
with prediction intervals; feature importance per schema; the run's model card; runs from before all this."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from serving.app import create_app
from serving.schemas import EXTENDED_FIELDS, PredictRequest
from serving.store import load_model_card
from tests.test_serving import ITEM, make_config
from yts_assets.core.paths import ProjectPaths
from yts_assets.core.registry import register_run
from yts_assets.ml.features import EXTENDED_INPUTS
from yts_assets.ml.models import SupervisedModel

EXTENDED = {"channel_type": "Music", "video_views": 5_000_000_000, "video_views_last_30_days": 50_000_000}
FULL = {**ITEM, **EXTENDED}
OUTPUTS = {"subscribers": "predicted_subscribers", "earnings": "predicted_earnings", "growth": "predicted_growth"}
SIMULATION = {"category": "Music", "country": "India", "age": 9, "uploads_min": 10, "uploads_max": 10_000,
              "points": 4, "scale": "log"}


def copy_project(source: Path, target: Path) -> ProjectPaths:
    shutil.copytree(source, target)
    return ProjectPaths(root=target, artifact_dir=target / "artifacts")


@pytest.fixture(scope="module")
def served(trained, tmp_path_factory) -> dict:
    """A copy of the trained project (run B active), an in-process client over it, and B's supervised model."""
    paths = copy_project(trained["root"], tmp_path_factory.mktemp("schemas") / "project")
    model = SupervisedModel.load(paths.published_runs_dir / trained["b"] / "supervised_bundle.skops")
    with TestClient(create_app(make_config(paths))) as client:
        assert client.get("/ready").status_code == 200
        yield {"client": client, "model": model, "paths": paths, "run": trained["b"]}


@pytest.fixture
def client(served) -> TestClient:
    return served["client"]


def expected(model: SupervisedModel, schema: str, body: dict,
             uploads: list[int] | None = None) -> dict[str, np.ndarray]:
    """What the schema's models predict for `body` (at each of `uploads` when given), straight from the model."""
    rows = uploads or [body["uploads"]]
    extended = ({name: [body[name]] * len(rows) for name in EXTENDED_FIELDS} if schema == "extended" else {})
    features = model.encode(rows, [body["age"]] * len(rows), [body["category"]] * len(rows),
                            [body["country"]] * len(rows), **extended)
    return model.predict_encoded(features, schema)


def assert_predicts(answer: dict, model: SupervisedModel, schema: str, body: dict) -> None:
    assert answer["input_schema"] == schema
    for target, values in expected(model, schema, body).items():
        assert answer[OUTPUTS[target]] == pytest.approx(float(values[0]), rel=1e-12), target


def assert_intervals(answer: dict, coverage: float) -> None:
    intervals = answer["intervals"]
    assert intervals["coverage"] == coverage
    for output in OUTPUTS.values():
        bounds = intervals[output]
        assert 0 <= bounds["lower"] <= answer[output] <= bounds["upper"], output
        assert bounds["lower"] < bounds["upper"], output


# --- the request model ------------------------------------------------------------------------------------------------


def test_the_api_fields_are_the_models_extended_inputs():
    assert EXTENDED_FIELDS == tuple(EXTENDED_INPUTS)
    item = PredictRequest(**{**FULL, "channel_type": "  Music  ", "extra": 1})
    assert item.channel_type == "Music" and item.unknown_fields() == ["extra"]
    assert item.inputs() == ITEM  # capture and drift stay on the contract's four inputs


# --- single predictions -----------------------------------------------------------------------------------------------


def test_a_contract_request_is_served_by_the_contract_models_with_intervals(served, client):
    model = served["model"]
    assert model.schemas == ("contract", "extended") and model.interval_coverage
    answer = client.post("/predict", json=ITEM).json()
    assert answer["warnings"] == [] and answer["run_id"] == served["run"]
    assert_predicts(answer, model, "contract", ITEM)
    assert_intervals(answer, model.interval_coverage)


def test_all_extended_fields_are_served_by_the_extended_models(served, client):
    model = served["model"]
    answer = client.post("/predict", json=FULL).json()
    assert answer["warnings"] == [], "the extended fields are known fields, never reported as unknown"
    assert_predicts(answer, model, "extended", FULL)
    assert_intervals(answer, model.interval_coverage)
    contract = client.post("/predict", json=ITEM).json()
    assert any(answer[o] != contract[o] for o in OUTPUTS.values()), "the extended models read the extra inputs"
    shouted = client.post("/predict", json={**FULL, "channel_type": " MUSIC "}).json()
    assert shouted["warnings"] == [] and shouted["predicted_earnings"] == answer["predicted_earnings"]


@pytest.mark.parametrize("given", [("channel_type",), ("video_views",), ("video_views", "video_views_last_30_days"),
                                   ("channel_type", "video_views_last_30_days")])
def test_partial_extended_fields_are_served_by_the_contract_model_with_a_warning(served, client, given):
    body = {**ITEM, **{name: EXTENDED[name] for name in given}}
    answer = client.post("/predict", json=body).json()
    assert_predicts(answer, served["model"], "contract", ITEM)
    missing = [name for name in EXTENDED_FIELDS if name not in given]
    [warning] = answer["warnings"]
    assert warning.startswith(f"{', '.join(missing)} not given") and "contract model served this row" in warning
    assert_intervals(answer, served["model"].interval_coverage)


def test_a_channel_type_outside_the_vocabulary_warns_like_category_and_country(served, client):
    answer = client.post("/predict", json={**FULL, "channel_type": "Knitting", "country": "Narnia"}).json()
    assert answer["input_schema"] == "extended"
    assert answer["warnings"] == [
        "country 'Narnia' is not in the training vocabulary; the model treats it as unknown",
        "channel_type 'Knitting' is not in the training vocabulary; the model treats it as unknown"]
    partial = client.post("/predict", json={**ITEM, "channel_type": "Knitting"}).json()
    assert not any("Knitting" in w for w in partial["warnings"]), "channel_type is not used by the contract model"


def test_recommendation_carries_the_schema_and_intervals(served, client):
    answer = client.post("/predict/recommendation", json={**FULL, "channel_type": "Knitting"}).json()
    assert_predicts(answer, served["model"], "extended", {**FULL, "channel_type": "Knitting"})
    assert_intervals(answer, served["model"].interval_coverage)
    assert answer["prediction"] == {o: answer[o] for o in OUTPUTS.values()}  # the contract's three floats, no more
    assert any("channel type is not in the training data" in advice for advice in answer["recommendations"])
    contract = client.post("/predict/recommendation", json=ITEM).json()
    assert contract["input_schema"] == "contract"
    assert contract["intervals"]["coverage"] == served["model"].interval_coverage


# --- batch and simulate -----------------------------------------------------------------------------------------------


def test_a_batch_mixes_schemas_row_by_row(served, client):
    items = [ITEM, FULL, {**ITEM, "video_views": 10}, {**FULL, "channel_type": "Knitting", "uploads": 50}]
    body = client.post("/predict/batch", json={"items": items}).json()
    records = body["records"]
    assert [r["input_schema"] for r in records] == ["contract", "extended", "contract", "extended"]
    for item, record in zip(items, records):
        single = client.post("/predict", json=item).json()
        assert {k: record[k] for k in single if k != "run_id"} == {k: single[k] for k in single if k != "run_id"}
    assert body["summary"]["by_input_schema"] == {"contract": 2, "extended": 2}
    assert body["summary"]["count"] == 4 and body["summary"]["with_warnings"] == 2


def test_simulate_holds_the_extended_fields_fixed_across_the_sweep(served, client):
    model = served["model"]
    body = client.post("/predict/simulate", json={**SIMULATION, **EXTENDED}).json()
    assert body["input_schema"] == "extended" and body["warnings"] == []
    assert body["input"] == {**SIMULATION, **EXTENDED}
    uploads = [p["uploads"] for p in body["points"]]
    predicted = expected(model, "extended", {**FULL}, uploads)
    for index, point in enumerate(body["points"]):
        for target, values in predicted.items():
            assert point[OUTPUTS[target]] == pytest.approx(float(values[index]), rel=1e-12)
        assert_intervals(point, model.interval_coverage)
    envelope = body["intervals"]
    for output in OUTPUTS.values():
        assert envelope[output]["lower"] == min(p["intervals"][output]["lower"] for p in body["points"])
        assert envelope[output]["upper"] == max(p["intervals"][output]["upper"] for p in body["points"])
    partial = client.post("/predict/simulate", json={**SIMULATION, "video_views": 10}).json()
    assert partial["input_schema"] == "contract"
    assert "channel_type, video_views_last_30_days not given" in partial["warnings"][0]
    original = client.post("/predict/simulate", json={"category": "Music", "country": "India", "age": 9,
                                                      "start_uploads": 100, "end_uploads": 300, "step": 100}).json()
    assert original["input_schema"] == "contract" and original["input"] == {
        "category": "Music", "country": "India", "age": 9, "start_uploads": 100, "end_uploads": 300, "step": 100}


# --- hostile values ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "field"), [
    ({"video_views": -1}, "video_views"),
    ({"video_views": 10**14}, "video_views"),
    ({"video_views": 1.5}, "video_views"),
    ({"video_views": "many"}, "video_views"),
    ({"video_views_last_30_days": -5}, "video_views_last_30_days"),
    ({"video_views_last_30_days": 10**13}, "video_views_last_30_days"),
    ({"video_views_last_30_days": [1]}, "video_views_last_30_days"),
    ({"channel_type": ""}, "channel_type"),
    ({"channel_type": "   "}, "channel_type"),
    ({"channel_type": "x" * 101}, "channel_type"),
    ({"channel_type": 42}, "channel_type"),
    ({"channel_type": {"a": 1}}, "channel_type"),
])
@pytest.mark.parametrize("endpoint", ["/predict", "/predict/batch", "/predict/simulate", "/predict/recommendation"])
def test_bad_extended_values_are_refused_by_name(client, endpoint, values, field):
    body = ({"items": [ITEM, {**FULL, **values}]} if endpoint == "/predict/batch"
            else {**SIMULATION, **EXTENDED, **values} if endpoint == "/predict/simulate" else {**FULL, **values})
    response = client.post(endpoint, json=body)
    assert response.status_code == 422, response.text
    assert field in {str(part) for error in response.json()["detail"] for part in error["loc"]}
    assert all("input" not in error for error in response.json()["detail"])


def test_the_largest_allowed_values_are_accepted(client):
    biggest = {**ITEM, "channel_type": "x" * 100, "video_views": 10**13, "video_views_last_30_days": 10**12}
    answer = client.post("/predict", json=biggest)
    assert answer.status_code == 200 and answer.json()["input_schema"] == "extended"
    assert all(np.isfinite(answer.json()[o]) for o in OUTPUTS.values())
    zeros = client.post("/predict", json={**FULL, "video_views": 0, "video_views_last_30_days": 0})
    assert zeros.status_code == 200 and zeros.json()["input_schema"] == "extended"
    nulls = client.post("/predict", json={**ITEM, "channel_type": None, "video_views": None})
    assert nulls.status_code == 200 and nulls.json()["input_schema"] == "contract" and nulls.json()["warnings"] == []


# --- feature importance, metrics, capture, documentation ------------------------------------------------------------


def test_feature_importance_per_schema(served, client):
    contract = client.get("/predict/feature-importance", params={"target": "earnings"}).json()
    assert contract["input_schema"] == "contract" and len(contract["records"]) == 4
    extended = client.get("/predict/feature-importance",
                          params={"target": "earnings", "input_schema": "extended"}).json()
    assert extended["input_schema"] == "extended"
    ranked = served["model"].ranked_importance("earnings", "extended")
    assert [r["feature"] for r in extended["records"]] == [name for name, _ in ranked]
    assert {r["feature"] for r in extended["records"]} == {"uploads", "age", "category", "country", *EXTENDED_FIELDS}
    response = client.get("/predict/feature-importance", params={"input_schema": "premium"})
    assert response.status_code == 422 and "input_schema" in response.text


def counters(client: TestClient, name: str) -> dict[str, float]:
    families = text_string_to_metric_families(client.get("/metrics").text)
    return {tuple(s.labels.values())[0]: s.value for f in families for s in f.samples if s.name == name}


def test_predictions_are_counted_by_schema(served, client):
    before = counters(client, "yts_predictions_by_schema_total")
    unknown = counters(client, "yts_unknown_inputs_total")
    client.post("/predict", json=FULL)
    client.post("/predict", json=ITEM)
    client.post("/predict/batch", json={"items": [ITEM, FULL, FULL, {**FULL, "channel_type": "Knitting"}]})
    client.post("/predict/simulate", json={**SIMULATION, **EXTENDED})
    after = counters(client, "yts_predictions_by_schema_total")
    assert after["contract"] - before["contract"] == 2
    assert after["extended"] - before["extended"] == 1 + 3 + 4
    assert counters(client, "yts_unknown_inputs_total")["channel_type"] - unknown["channel_type"] == 1
    assert set(counters(client, "yts_predictions_total")) >= {"predict", "batch", "simulate"}  # unchanged series


def test_capture_keeps_the_contract_inputs_only(served, tmp_path):
    paths = copy_project(served["paths"].root, tmp_path / "project")
    with TestClient(create_app(make_config(paths, capture_rotate_records=1))) as capturing:
        assert capturing.post("/predict", json={**FULL, "extra": 1}).status_code == 200
    [batch] = (paths.root / "incoming").glob("capture-*.jsonl")
    [record] = [json.loads(line) for line in batch.read_text().splitlines()]
    assert set(record) == {*ITEM, "run_id", "received_at"}


def test_openapi_documents_the_new_fields(client):
    document = client.get("/openapi.json").json()
    components = document["components"]["schemas"]
    for model in ("PredictResponse", "PredictionRecord", "RecommendationResponse", "SimulateResponse"):
        properties = components[model]["properties"]
        assert {"input_schema", "intervals"} <= set(properties), model
        assert properties["input_schema"].get("description") and properties["intervals"].get("description"), model
    assert "intervals" in components["SimulatedPoint"]["properties"]
    assert set(EXTENDED_FIELDS) <= set(components["PredictRequest"]["properties"])
    assert set(EXTENDED_FIELDS) <= set(components["SimulateRequest"]["properties"])
    assert components["Intervals"]["properties"]["coverage"]["description"]
    assert "by_input_schema" in components["BatchSummary"]["properties"]
    parameters = {p["name"] for p in document["paths"]["/predict/feature-importance"]["get"]["parameters"]}
    assert "input_schema" in parameters
    card = document["paths"]["/mlops/model-card"]["get"]["responses"]
    assert "text/markdown" in card["200"]["content"] and "404" in card


# --- the model card ---------------------------------------------------------------------------------------------------


def test_the_model_card_is_the_published_one_with_its_sha256_as_etag(served, client):
    folder = served["paths"].published_runs_dir / served["run"]
    entry = json.loads((folder / "training_manifest.json").read_text())["artifacts"]["model_card"]
    published = (folder / entry["file"]).read_bytes()
    response = client.get("/mlops/model-card")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    assert response.headers["etag"] == f'"{hashlib.sha256(published).hexdigest()}"' == f'"{entry["sha256"]}"'
    assert response.content == published and response.text.startswith("# ") and served["run"] in response.text
    again = client.get("/mlops/model-card", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and not again.content


def test_no_model_card_without_a_run(tmp_path):
    empty = ProjectPaths(root=tmp_path, artifact_dir=tmp_path / "artifacts")
    with TestClient(create_app(make_config(empty))) as client:
        assert client.get("/mlops/model-card").status_code == 503


def test_the_store_reads_no_model_card_from_a_manifest_without_one(tmp_path):
    assert load_model_card(tmp_path, {"run_id": "old", "artifacts": {}}) is None


# --- runs from before: no model card; a format-2 model (contract only, no intervals) --------------------------------


def register_variant(paths: ProjectPaths, source_run: str, run_id: str, tmp_path: Path,
                     model: SupervisedModel | None = None, drop: tuple[str, ...] = ()) -> None:
    """Publish and activate `run_id`: `source_run`'s artifacts, with `model` as its supervised model and without the
    artifacts named in `drop` (like a run published before they existed)."""
    published = paths.published_runs_dir / source_run
    manifest = json.loads((published / "training_manifest.json").read_text())
    manifest["run_id"] = run_id
    for name in drop:
        manifest["artifacts"].pop(name)
    for artifact in manifest["artifacts"].values():
        artifact["path"] = str(published / artifact["file"])
    if model is not None:
        digest = model.save(tmp_path / "supervised_bundle.joblib")
        manifest["artifacts"]["supervised_model"].update(path=str(tmp_path / "supervised_bundle.skops"), sha256=digest)
        joblib_bytes = (tmp_path / "supervised_bundle.joblib").read_bytes()
        manifest["artifacts"]["supervised_bundle"].update(path=str(tmp_path / "supervised_bundle.joblib"),
                                                          sha256=hashlib.sha256(joblib_bytes).hexdigest())
    register_run(paths, manifest, promote=True, reason=f"a run like those before issue 15 ({run_id})", actor="pytest")


def test_a_run_published_without_a_model_card_still_serves_and_says_to_retrain(served, trained, tmp_path):
    paths = copy_project(served["paths"].root, tmp_path / "project")
    register_variant(paths, trained["a"], "no-card-run", tmp_path, drop=("model_card",))  # A: not the same as B
    with TestClient(create_app(make_config(paths))) as client:
        assert client.get("/ready").status_code == 200
        assert client.post("/predict", json=FULL).json()["run_id"] == "no-card-run"
        response = client.get("/mlops/model-card")
        assert response.status_code == 404
        detail = response.json()["detail"]
        assert "no-card-run" in detail and "retrain" in detail and "yts-run" in detail


def test_a_contract_only_model_without_intervals_still_serves(served, tmp_path):
    """What a format-2 run loads as: one contract model set, no intervals."""
    model = served["model"]
    old = SupervisedModel(encoder=model.encoder, regressors={"contract": model.regressors["contract"]},
                          metrics={"contract": model.metrics["contract"]},
                          hyperparameters=model.hyperparameters, config=model.config,
                          feature_importance={"contract": model.feature_importance["contract"]})
    assert old.schemas == ("contract",) and not old.intervals
    paths = copy_project(served["paths"].root, tmp_path / "project")
    register_variant(paths, served["run"], "contract-only-run", tmp_path, model=old)
    with TestClient(create_app(make_config(paths))) as client:
        assert client.get("/ready").status_code == 200
        plain = client.post("/predict", json=ITEM).json()
        assert plain["run_id"] == "contract-only-run" and plain["intervals"] is None and plain["warnings"] == []
        assert_predicts(plain, model, "contract", ITEM)
        full = client.post("/predict", json={**FULL, "channel_type": "Knitting"}).json()
        assert full["input_schema"] == "contract" and full["intervals"] is None
        [warning] = full["warnings"]  # no channel_type vocabulary warning: the contract model does not read it
        assert "has no extended models" in warning and "contract-only-run" in warning and "retrain" in warning
        batch = client.post("/predict/batch", json={"items": [ITEM, FULL]}).json()
        assert [r["input_schema"] for r in batch["records"]] == ["contract", "contract"]
        assert batch["summary"]["by_input_schema"] == {"contract": 2, "extended": 0}
        simulated = client.post("/predict/simulate", json={**SIMULATION, **EXTENDED}).json()
        assert simulated["input_schema"] == "contract" and simulated["intervals"] is None
        assert all(point["intervals"] is None for point in simulated["points"])
        recommended = client.post("/predict/recommendation", json=ITEM).json()
        assert recommended["intervals"] is None and recommended["input_schema"] == "contract"
        assert client.get("/predict/feature-importance").status_code == 200
        missing = client.get("/predict/feature-importance", params={"input_schema": "extended"})
        assert missing.status_code == 404
        assert "contract-only-run has no extended models" in missing.json()["detail"]
