"""Recommendation advice: the predicted channel's archetype, its growth risk, how unusual the input is, and what to do."""

from __future__ import annotations

import numpy as np

from yts_assets.ml.drift import drift_report

from .schemas import PredictRequest
from .store import LoadedRun

HIGH_RISK_GROWTH = 20_000
MEDIUM_RISK_GROWTH = 120_000


def growth_risk(predicted_growth: float) -> str:
    """The original platform's risk level: from predicted 30-day subscriber growth."""
    if predicted_growth < HIGH_RISK_GROWTH:
        return "high"
    return "medium" if predicted_growth < MEDIUM_RISK_GROWTH else "low"


def recommend(run: LoadedRun, item: PredictRequest, prediction: dict[str, float], unseen: list[str]) -> dict[str, object]:
    """Archetype of the predicted channel, how far the input is from the training data, and advice."""
    values = np.array([[item.uploads, prediction["predicted_subscribers"], prediction["predicted_earnings"],
                        prediction["predicted_growth"]]])
    [cluster_id] = run.clustering.cluster_ids(values)
    archetype = run.clustering.archetypes[cluster_id]
    record = drift_report([item.inputs()], run.baseline)["records"][0]
    median = run.clustering.medians(archetype)
    advice = []
    if median.uploads and item.uploads < median.uploads:
        advice.append(f"Upload more: '{archetype}' channels have a median of {median.uploads:,.0f} uploads, "
                      f"against your {item.uploads:,.0f}.")
    if median.growth and float(prediction["predicted_growth"]) < median.growth:
        advice.append(f"Predicted 30-day growth ({float(prediction['predicted_growth']):,.0f}) is below the "
                      f"archetype median ({median.growth:,.0f}): review posting cadence and topics.")
    if median.earnings and float(prediction["predicted_earnings"]) < median.earnings:
        advice.append("Predicted earnings are below the archetype median: diversify monetization "
                      "(memberships, sponsorships).")
    if unseen:
        names = [name.replace("_", " ") for name in unseen]
        named = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        advice.append(f"The {named} {'is' if len(unseen) == 1 else 'are'} not in the training data: treat these "
                      "predictions as rough.")
    if record["severity"] != "low":
        advice.append(f"The input is unusual for the training data ({', '.join(record['flags'])}): "
                      "predictions are less reliable.")
    if not advice:
        advice.append(f"At or above the '{archetype}' medians on every measure: keep the current strategy.")
    return {"cluster": {"cluster_id": cluster_id, "archetype": archetype}, "archetype": archetype,
            "risk_level": growth_risk(prediction["predicted_growth"]),
            "drift_severity": record["severity"], "drift_flags": record["flags"], "recommendations": advice}
