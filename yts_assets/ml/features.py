"""Model inputs and targets, stable channel ids, and the feature snapshot. The encoder lives with the model (models.py)."""

from __future__ import annotations

import hashlib

import pandas as pd

NUMERIC_INPUTS: tuple[str, ...] = ("uploads", "age")
CATEGORICAL_INPUTS: tuple[str, ...] = ("category", "country")
MODEL_INPUTS: tuple[str, ...] = NUMERIC_INPUTS + CATEGORICAL_INPUTS
TARGETS: dict[str, str] = {
    "subscribers": "subscribers",
    "earnings": "highest_yearly_earnings",
    "growth": "growth_target",
}
ENCODED_FEATURES: tuple[str, ...] = ("log_uploads", "age", "category_code", "country_code")


def channel_id(youtuber: str) -> str:
    """Stable id from the channel name, independent of row order."""
    return "ch_" + hashlib.sha256(youtuber.strip().casefold().encode("utf-8")).hexdigest()[:12]


def feature_snapshot(processed: pd.DataFrame, event_timestamp: str) -> pd.DataFrame:
    """One row per channel: stable id, model inputs, targets and the observation time."""
    snapshot = pd.DataFrame({"channel_id": processed["youtuber"].astype(str).map(channel_id)})
    snapshot["youtuber"] = processed["youtuber"]
    for column in MODEL_INPUTS:
        snapshot[column] = processed[column]
    for target, column in TARGETS.items():
        snapshot[f"target_{target}"] = processed[column]
    snapshot["event_timestamp"] = event_timestamp
    return snapshot
