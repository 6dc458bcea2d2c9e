"""Data quality report and the training baseline that drift is measured against."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .dataset import numeric_summary, snake_case
from .features import CATEGORICAL_INPUTS, NUMERIC_INPUTS
from .quality import ChannelDuplicates

BASELINE_BINS = 10


def duplicate_rows(frame: pd.DataFrame) -> int:
    """`frame.duplicated().sum()`, faster: rows are hashed on their numeric columns (floats with -0.0 as 0.0 and every
    NaN alike, as duplicated() compares them; on every column if none is numeric), and only rows whose hash repeats
    are compared, by duplicated() itself. Equal rows hash alike, so no duplicate is missed."""
    if frame.shape[1] == 0 or len(frame) < 2:
        return int(frame.duplicated().sum())
    positions = [i for i, dtype in enumerate(frame.dtypes) if isinstance(dtype, np.dtype) and dtype.kind in "fiub"]
    keys = {}
    for position in positions or range(frame.shape[1]):
        column = frame.iloc[:, position]
        if isinstance(column.dtype, np.dtype) and column.dtype.kind == "f":
            values = column.to_numpy()
            column = pd.Series(np.where(np.isnan(values), np.nan, values + 0.0))
        keys[position] = column.reset_index(drop=True)
    hashes = pd.util.hash_pandas_object(pd.DataFrame(keys, copy=False), index=False)
    candidates = hashes.duplicated(keep=False).to_numpy()
    return int(frame[candidates].duplicated().sum()) if candidates.any() else 0


def table_profile(frame: pd.DataFrame, key_column: str | None) -> dict[str, object]:
    missing = frame.isna().mean().mul(100).round(3)
    return {
        "rows": int(len(frame)),
        "columns": int(frame.shape[1]),
        "duplicate_rows": duplicate_rows(frame),
        "duplicate_channels": int(frame[key_column].duplicated().sum()) if key_column in frame else None,
        "missing_pct": {column: float(value) for column, value in missing.items()},
    }


def raw_profile(raw: pd.DataFrame) -> dict[str, object]:
    """What the raw checks and the quality report need of the raw frame, computed once where it is read: its column
    names, rows, duplicate channels (no_duplicate_channels) and table profile (the report's "raw" section)."""
    return {
        "columns": [str(c) for c in raw.columns],
        "rows": int(len(raw)),
        "channel_duplicates": ChannelDuplicates.of(raw).as_dict() if "Youtuber" in raw else None,
        "table": raw_table_profile(raw),
    }


def raw_table_profile(raw: pd.DataFrame) -> dict[str, object]:
    """`table_profile` of the raw frame under snake_case names, without renaming (a copy) of the frame."""
    names = [snake_case(c) for c in raw.columns]
    if len(set(names)) != len(names):
        return table_profile(raw.rename(columns=snake_case), "youtuber")
    key = next((c for c, name in zip(raw.columns, names) if name == "youtuber"), None)
    profile = table_profile(raw, key)
    profile["missing_pct"] = {snake_case(c): value for c, value in profile["missing_pct"].items()}
    return profile


def data_quality_report(raw: pd.DataFrame | dict[str, object], processed: pd.DataFrame, transformations: list[str],
                        source: dict[str, object]) -> dict[str, object]:
    """`raw`: the raw frame, or its `raw_profile`."""
    return {
        "source": source,
        "raw": raw["table"] if isinstance(raw, dict) else raw_table_profile(raw),
        "processed": {
            **table_profile(processed, "youtuber"),
            "numeric_summary": numeric_summary(processed),
            "cardinality": {column: int(processed[column].nunique()) for column in CATEGORICAL_INPUTS},
        },
        "transformations": transformations,
    }


NUMERIC_TRANSFORMS = {"uploads": "log1p", "age": "identity"}
BASELINE_COLUMNS = (*NUMERIC_INPUTS, *CATEGORICAL_INPUTS)  # all that training_baseline reads of the processed table


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
