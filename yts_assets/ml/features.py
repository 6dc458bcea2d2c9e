"""Model inputs: encoding of uploads, category, country and age, and the feature snapshot."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from collections.abc import Iterable, Mapping

import numpy as np
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


def _codes(values: Iterable[object], lookup: Mapping[str, int]) -> list[float]:
    return [lookup.get(v.strip().casefold(), np.nan) if isinstance(v, str) else np.nan for v in values]


@dataclass(frozen=True)
class FeatureEncoder:
    """Turns model inputs into a float matrix without a ColumnTransformer.

    Categories match case-insensitively and become ordinal codes; unseen or missing ones become
    NaN, which the gradient-boosted trees route as 'missing'.
    """

    categories: tuple[str, ...]
    countries: tuple[str, ...]

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> "FeatureEncoder":
        def vocabulary(column: str) -> tuple[str, ...]:
            return tuple(sorted(frame[column].dropna().astype(str).unique()))

        return cls(categories=vocabulary("category"), countries=vocabulary("country"))

    @cached_property
    def _category_codes(self) -> dict[str, int]:
        return {value.casefold(): code for code, value in enumerate(self.categories)}

    @cached_property
    def _country_codes(self) -> dict[str, int]:
        return {value.casefold(): code for code, value in enumerate(self.countries)}

    def encode_values(self, uploads: Iterable[float], age: Iterable[float],
                      category: Iterable[object], country: Iterable[object]) -> np.ndarray:
        uploads_array = np.asarray(list(uploads), dtype=float)
        if uploads_array.size == 0:
            return np.empty((0, len(ENCODED_FEATURES)))
        return np.column_stack([
            np.log1p(np.clip(uploads_array, 0, None)),
            np.asarray(list(age), dtype=float),
            _codes(category, self._category_codes),
            _codes(country, self._country_codes),
        ])

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        return self.encode_values(
            frame["uploads"].to_numpy(dtype=float),
            frame["age"].to_numpy(dtype=float),
            frame["category"].astype(object).where(frame["category"].notna(), None),
            frame["country"].astype(object).where(frame["country"].notna(), None),
        )


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
