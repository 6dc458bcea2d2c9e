"""The prediction path, designed for single rows: no pandas, no ColumnTransformer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from yts_assets.ml.clustering import assign_archetypes
from yts_assets.ml.drift import drift_report
from yts_assets.ml.features import ENCODED_FEATURES
from yts_assets.ml.training import predict

from .schemas import PredictRequest
from .store import LoadedRun

OUTPUT_NAMES = {"subscribers": "predicted_subscribers", "earnings": "predicted_earnings", "growth": "predicted_growth"}


CATEGORY_CODE = ENCODED_FEATURES.index("category_code")
COUNTRY_CODE = ENCODED_FEATURES.index("country_code")


def vocabulary_warnings(encoded_row: np.ndarray, category: str, country: str) -> list[str]:
    """Unknown values already encoded as NaN (blank ones never get this far): no second lookup."""
    return [f"{field} {value!r} is not in the training vocabulary; the model treats it as unknown"
            for field, value, code in (("category", category, encoded_row[CATEGORY_CODE]),
                                       ("country", country, encoded_row[COUNTRY_CODE])) if np.isnan(code)]


def predict_items(run: LoadedRun, items: Sequence[PredictRequest]) -> list[dict[str, object]]:
    """One vectorized call for any number of rows; each row gets its own warnings."""
    encoder = run.supervised["encoder"]
    features = encoder.encode_values([i.uploads for i in items], [i.age for i in items],
                                     [i.category for i in items], [i.country for i in items])
    predictions = predict(run.supervised, features)
    rows = []
    for index, item in enumerate(items):
        row: dict[str, object] = {OUTPUT_NAMES[t]: float(values[index]) for t, values in predictions.items()}
        row["warnings"] = vocabulary_warnings(features[index], item.category, item.country)
        rows.append(row)
    return rows


def simulate(run: LoadedRun, category: str, country: str, age: float,
             uploads: np.ndarray) -> tuple[list[dict[str, float]], list[str]]:
    """Predictions along a range of uploads, and the vocabulary warnings of the fixed inputs."""
    encoder = run.supervised["encoder"]
    count = len(uploads)
    features = encoder.encode_values(uploads, np.full(count, age), [category] * count, [country] * count)
    predictions = predict(run.supervised, features)
    points = [{"uploads": float(u), **{OUTPUT_NAMES[t]: float(v[i]) for t, v in predictions.items()}}
              for i, u in enumerate(uploads)]
    return points, vocabulary_warnings(features[0], category, country)


def recommend(run: LoadedRun, item: PredictRequest, prediction: dict[str, object]) -> dict[str, object]:
    """Archetype of the predicted channel, how far the input is from the training data, and advice."""
    values = np.array([[item.uploads, prediction["predicted_subscribers"], prediction["predicted_earnings"],
                        prediction["predicted_growth"]]])
    archetype = assign_archetypes(run.clustering, values)[0]
    record = drift_report([item.model_dump()], run.baseline)["records"][0]
    profile = next(p for p in run.clustering["profiles"] if p["archetype"] == archetype)
    median = profile["median"]
    advice = []
    if median["uploads"] and item.uploads < median["uploads"]:
        advice.append(f"Upload more: '{archetype}' channels have a median of {median['uploads']:,.0f} uploads, "
                      f"against your {item.uploads:,.0f}.")
    if median["growth"] and float(prediction["predicted_growth"]) < median["growth"]:
        advice.append(f"Predicted 30-day growth ({float(prediction['predicted_growth']):,.0f}) is below the "
                      f"archetype median ({median['growth']:,.0f}): review posting cadence and topics.")
    if median["earnings"] and float(prediction["predicted_earnings"]) < median["earnings"]:
        advice.append("Predicted earnings are below the archetype median: diversify monetization "
                      "(memberships, sponsorships).")
    if prediction["warnings"]:
        advice.append("Category or country is not in the training data: treat these predictions as rough.")
    if record["severity"] != "low":
        advice.append(f"The input is unusual for the training data ({', '.join(record['flags'])}): "
                      "predictions are less reliable.")
    if not advice:
        advice.append(f"At or above the '{archetype}' medians on every measure: keep the current strategy.")
    return {"archetype": archetype, "risk_level": record["severity"], "drift_flags": record["flags"],
            "recommendations": advice}
