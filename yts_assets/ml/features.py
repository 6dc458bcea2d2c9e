"""Model inputs and targets, stable channel ids, and the feature snapshot. The encoder lives with the model (models.py)."""

from __future__ import annotations

import hashlib

import pandas as pd

NUMERIC_INPUTS: tuple[str, ...] = ("uploads", "age")
CATEGORICAL_INPUTS: tuple[str, ...] = ("category", "country")
MODEL_INPUTS: tuple[str, ...] = NUMERIC_INPUTS + CATEGORICAL_INPUTS
# Optional richer inputs a creator knows: API field -> processed column.
EXTENDED_INPUTS: dict[str, str] = {
    "channel_type": "channel_type",
    "video_views": "video_views",
    "video_views_last_30_days": "video_views_for_the_last_30_days",
}
# One model set per input schema; a request is served by the richest schema whose inputs it gives.
CONTRACT_SCHEMA, EXTENDED_SCHEMA = "contract", "extended"
INPUT_SCHEMAS: dict[str, tuple[str, ...]] = {
    CONTRACT_SCHEMA: MODEL_INPUTS,
    EXTENDED_SCHEMA: MODEL_INPUTS + tuple(EXTENDED_INPUTS),
}
TARGETS: dict[str, str] = {
    "subscribers": "subscribers",
    "earnings": "highest_yearly_earnings",
    "growth": "growth_target",
}
ENCODED_FEATURES: tuple[str, ...] = ("log_uploads", "age", "category_code", "country_code", "channel_type_code",
                                      "log_video_views", "log_video_views_last_30_days")
# The encoded columns each schema's models read: a prefix of ENCODED_FEATURES.
SCHEMA_FEATURES: dict[str, tuple[str, ...]] = {
    CONTRACT_SCHEMA: ENCODED_FEATURES[:4],
    EXTENDED_SCHEMA: ENCODED_FEATURES,
}
# Said wherever these figures are shown: the dataset's earnings are not observed revenue.
NEAR_DETERMINISTIC_NOTE = (
    "The dataset's earnings are estimates derived from each channel's views in the last 30 days (a CPM range "
    "times views), so video_views_last_30_days nearly determines earnings: an earnings prediction from it "
    "restates that estimate, it does not forecast revenue. Lifetime video_views are strongly tied to subscribers, "
    "and 30-day views to 30-day subscriber growth."
)


def channel_id(youtuber: str) -> str:
    """Stable id from the channel name, independent of row order."""
    return "ch_" + hashlib.sha256(youtuber.strip().casefold().encode("utf-8")).hexdigest()[:12]


def channel_ids(youtubers: pd.Series) -> pd.Series:
    """`channel_id` of every name (as `astype(str)` gives it, as the ids always were), in one tight loop:
    about 0.5 s for a million names, most of it sha256 itself."""
    sha256 = hashlib.sha256
    ids = ["ch_" + sha256(name.strip().casefold().encode("utf-8")).hexdigest()[:12]
           for name in youtubers.astype(str).tolist()]
    return pd.Series(ids, index=youtubers.index, dtype=object)


def feature_snapshot(processed: pd.DataFrame, event_timestamp: str) -> pd.DataFrame:
    """One row per channel: stable id, model inputs, targets and the observation time."""
    snapshot = pd.DataFrame({"channel_id": channel_ids(processed["youtuber"])})
    snapshot["youtuber"] = processed["youtuber"]
    for column in MODEL_INPUTS:
        snapshot[column] = processed[column]
    for target, column in TARGETS.items():
        snapshot[f"target_{target}"] = processed[column]
    snapshot["event_timestamp"] = event_timestamp
    return snapshot
