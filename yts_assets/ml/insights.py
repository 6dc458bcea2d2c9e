"""Channel analytics computed once per run from the processed table: per-country and per-category
aggregates, subscriber growth by upload bucket, and the raw and processed samples the API serves.

Conventions (the original platform's endpoints, computed here instead of per request):
- rows with a missing country are left out of the country table, rows with a missing category out of
  the category table, rows with missing uploads out of the upload buckets;
- a mean skips missing values, and a mean (or sum) of nothing is None;
- every value is JSON-safe: None for missing, NaN or infinite; counts are ints when integral.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

INSIGHTS_FORMAT = 1
RAW_SAMPLE_ROWS = 200
PROCESSED_SAMPLE_ROWS = 1000
# (label, inclusive upper bound) of each upload bucket; the first starts at 0
UPLOAD_BUCKETS: tuple[tuple[str, float], ...] = (
    ("0-100", 100), ("101-500", 500), ("501-2k", 2_000), ("2k-10k", 10_000), ("10k+", math.inf))
RAW_SAMPLE_COLUMNS = ("youtuber", "uploads", "category", "country", "subscribers", "highest_yearly_earnings",
                      "subscribers_for_last_30_days", "created_year")
PROCESSED_SAMPLE_COLUMNS = ("youtuber", "uploads", "category", "country", "age", "subscribers",
                            "highest_yearly_earnings", "growth_target")
COUNT_COLUMNS = frozenset({"uploads", "subscribers", "subscribers_for_last_30_days", "created_year", "age",
                           "growth_target", "channel_count", "total_subscribers"})
TEXT_COLUMNS = frozenset({"youtuber", "category", "country", "abbreviation", "dominant_category", "upload_bucket"})
SUBSCRIBERS, EARNINGS, GROWTH = "subscribers", "highest_yearly_earnings", "growth_target"
# Every column of the processed table that channel_insights reads: a reader may load only these.
INSIGHT_COLUMNS: tuple[str, ...] = tuple(dict.fromkeys((
    "country", "category", SUBSCRIBERS, EARNINGS, GROWTH, "abbreviation", "latitude", "longitude", "uploads",
    *RAW_SAMPLE_COLUMNS, *PROCESSED_SAMPLE_COLUMNS)))


def json_number(value: Any, count: bool = False) -> int | float | None:
    """None for missing, NaN or infinite values; with `count`, an int when the value is integral."""
    if value is None or value is pd.NA:
        return None
    number = float(value)
    if not math.isfinite(number):
        return None
    return int(number) if count and number.is_integer() else number


def json_text(value: Any) -> str | None:
    return None if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) else str(value)


def json_value(column: str, value: Any) -> str | int | float | None:
    if column in TEXT_COLUMNS:
        return json_text(value)
    return json_number(value, count=column in COUNT_COLUMNS)


def records(table: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts with exactly `columns`, in table order."""
    return [{column: json_value(column, value) for column, value in zip(columns, row)}
            for row in table.loc[:, list(columns)].itertuples(index=False, name=None)]


def _sum(series: pd.Series) -> float:
    return series.sum(min_count=1)  # NaN (then None) when every value is missing


def _dominant(frame: pd.DataFrame, by: str) -> pd.Series:
    """Per `by` value, the category with the most summed subscribers (ties: the first by name); channels without
    a category do not count."""
    known = frame[frame[by].notna() & frame["category"].notna()]
    totals = known.groupby([by, "category"], observed=True)[SUBSCRIBERS].sum().reset_index()
    totals = totals.sort_values([by, SUBSCRIBERS, "category"], ascending=[True, False, True], kind="mergesort")
    return totals.drop_duplicates(by).set_index(by)["category"]


def _sorted_by_total(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """Descending total_subscribers (missing last), then by name, so ties are deterministic."""
    return table.sort_values(["total_subscribers", key], ascending=[False, True], na_position="last", kind="mergesort")


def country_metrics(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per country: channel count, summed subscribers and yearly earnings, mean growth, the dominant
    category (by summed subscribers), its abbreviation and coordinates; by total subscribers, descending."""
    columns = ["country", "category", SUBSCRIBERS, EARNINGS, GROWTH, "abbreviation", "latitude", "longitude"]
    known = frame.loc[frame["country"].notna(), columns]  # only the columns used: no copy of the whole table
    grouped = known.groupby("country", observed=True)
    table = pd.DataFrame({
        "channel_count": grouped.size(),
        "total_subscribers": grouped[SUBSCRIBERS].agg(_sum),
        "total_earnings": grouped[EARNINGS].agg(_sum),
        "avg_growth": grouped[GROWTH].mean(),
        "abbreviation": grouped["abbreviation"].first(),
        "latitude": grouped["latitude"].first(),
        "longitude": grouped["longitude"].first(),
    })
    table["dominant_category"] = _dominant(known, "country").reindex(table.index)
    table = _sorted_by_total(table.rename_axis("country").reset_index(), "country")
    return records(table, ["country", "abbreviation", "total_subscribers", "total_earnings", "dominant_category",
                           "channel_count", "avg_growth", "latitude", "longitude"])


def category_performance(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per category (every category; the API keeps the first top_n), by total subscribers, descending."""
    grouped = frame.loc[frame["category"].notna(), ["category", SUBSCRIBERS, EARNINGS, GROWTH]].groupby(
        "category", observed=True)
    table = pd.DataFrame({
        "channel_count": grouped.size(),
        "avg_subscribers": grouped[SUBSCRIBERS].mean(),
        "avg_earnings": grouped[EARNINGS].mean(),
        "avg_growth": grouped[GROWTH].mean(),
        "total_subscribers": grouped[SUBSCRIBERS].agg(_sum),
        "total_earnings": grouped[EARNINGS].agg(_sum),
    })
    table = _sorted_by_total(table.rename_axis("category").reset_index(), "category")
    return records(table, ["category", "channel_count", "avg_subscribers", "avg_earnings", "avg_growth",
                           "total_subscribers", "total_earnings"])


def upload_bucket(uploads: pd.Series) -> pd.Series:
    """The bucket label of each upload count (inclusive upper bounds 100, 500, 2,000, 10,000); missing or
    negative counts get none."""
    bounds = [0.0, *(upper for _, upper in UPLOAD_BUCKETS)]
    return pd.cut(uploads, bins=bounds, labels=[label for label, _ in UPLOAD_BUCKETS], right=True,
                  include_lowest=True)


def upload_growth_buckets(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Every bucket, in order (an empty one has channel_count 0 and None means)."""
    table = pd.DataFrame({"upload_bucket": upload_bucket(frame["uploads"]), GROWTH: frame[GROWTH],
                          EARNINGS: frame[EARNINGS], SUBSCRIBERS: frame[SUBSCRIBERS]})
    grouped = table.groupby("upload_bucket", observed=False)
    table = pd.DataFrame({
        "channel_count": grouped.size(),
        "avg_growth": grouped[GROWTH].mean(),
        "avg_earnings": grouped[EARNINGS].mean(),
        "avg_subscribers": grouped[SUBSCRIBERS].mean(),
    }).reset_index()
    table["upload_bucket"] = table["upload_bucket"].astype(str)
    return records(table, ["upload_bucket", "channel_count", "avg_growth", "avg_earnings", "avg_subscribers"])


def raw_sample(frame: pd.DataFrame, rows: int = RAW_SAMPLE_ROWS) -> list[dict[str, Any]]:
    """The first `rows` channels in file order, with the raw file's values (text 'nan' already missing)."""
    return records(frame.head(rows), RAW_SAMPLE_COLUMNS)


def processed_sample(frame: pd.DataFrame, rows: int = PROCESSED_SAMPLE_ROWS) -> list[dict[str, Any]]:
    """The first `rows` channels of the processed table, with `age` and `growth_target`."""
    return records(frame.head(rows), PROCESSED_SAMPLE_COLUMNS)


def channel_insights(frame: pd.DataFrame) -> dict[str, Any]:
    """Every table the analytics endpoints serve, as one JSON-safe document."""
    return {
        "format": INSIGHTS_FORMAT,
        "channels": len(frame),
        "channels_without_country": int(frame["country"].isna().sum()),
        "channels_without_category": int(frame["category"].isna().sum()),
        "upload_bucket_bounds": {label: (None if np.isinf(upper) else upper) for label, upper in UPLOAD_BUCKETS},
        "country_metrics": country_metrics(frame),
        "category_performance": category_performance(frame),
        "upload_growth_buckets": upload_growth_buckets(frame),
        "raw_sample": raw_sample(frame),
        "processed_sample": processed_sample(frame),
    }


def insights_json(insights: dict[str, Any]) -> bytes:
    """Deterministic bytes; refuses NaN and infinities (ValueError) rather than writing invalid JSON."""
    return (json.dumps(insights, indent=1, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n").encode("utf-8")
