"""Data quality report and the training baseline that drift is measured against."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .dataset import numeric_summary, snake_case
from .features import CATEGORICAL_INPUTS, NUMERIC_INPUTS

BASELINE_BINS = 10


def table_profile(frame: pd.DataFrame, key_column: str) -> dict[str, object]:
    missing = frame.isna().mean().mul(100).round(3)
    return {
        "rows": int(len(frame)),
        "columns": int(frame.shape[1]),
        "duplicate_rows": int(frame.duplicated().sum()),
        "duplicate_channels": int(frame[key_column].duplicated().sum()) if key_column in frame else None,
        "missing_pct": {column: float(value) for column, value in missing.items()},
    }


def data_quality_report(raw: pd.DataFrame, processed: pd.DataFrame, transformations: list[str],
                        source: dict[str, object]) -> dict[str, object]:
    raw_named = raw.rename(columns=snake_case)
    return {
        "source": source,
        "raw": table_profile(raw_named, "youtuber"),
        "processed": {
            **table_profile(processed, "youtuber"),
            "numeric_summary": numeric_summary(processed),
            "cardinality": {column: int(processed[column].nunique()) for column in CATEGORICAL_INPUTS},
        },
        "transformations": transformations,
    }


NUMERIC_TRANSFORMS = {"uploads": "log1p", "age": "identity"}


def numeric_baseline(values: pd.Series, transform: str) -> dict[str, object]:
    """Mean, std, p95 and decile bin edges with the share of rows in each bin, in model space."""
    known = values.dropna().to_numpy(dtype=float)
    if transform == "log1p":
        known = np.log1p(np.clip(known, 0, None))
    edges = np.unique(np.quantile(known, np.linspace(0, 1, BASELINE_BINS + 1)))
    inner = edges[1:-1]
    counts = np.bincount(np.searchsorted(inner, known, side="right"), minlength=len(inner) + 1)
    return {
        "transform": transform,
        "count": int(known.size),
        "missing": int(values.isna().sum()),
        "mean": float(known.mean()),
        "std": float(known.std(ddof=0)),
        "p05": float(np.quantile(known, 0.05)),
        "p50": float(np.quantile(known, 0.5)),
        "p95": float(np.quantile(known, 0.95)),
        "bin_edges": [float(e) for e in edges],
        "bin_fractions": [float(c) / known.size for c in counts],
    }


def categorical_baseline(values: pd.Series) -> dict[str, object]:
    frequencies = values.fillna("__missing__").astype(str).value_counts(normalize=True).sort_index()
    return {
        "count": int(values.notna().sum()),
        "missing": int(values.isna().sum()),
        "frequencies": {value: float(share) for value, share in frequencies.items()},
    }


def training_baseline(processed: pd.DataFrame) -> dict[str, object]:
    return {
        "rows": int(len(processed)),
        "numeric": {column: numeric_baseline(processed[column], NUMERIC_TRANSFORMS[column]) for column in NUMERIC_INPUTS},
        "categorical": {column: categorical_baseline(processed[column]) for column in CATEGORICAL_INPUTS},
    }
