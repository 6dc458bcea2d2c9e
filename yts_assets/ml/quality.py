"""Plain data-quality and integrity checks. Each returns an outcome whose numbers explain it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..core.files import sha256_file
from ..core.registry import ServingBaseline
from .dataset import RAW_COLUMNS, YOUTUBE_FOUNDED_YEAR
from .drift import DriftAccumulator
from .features import MODEL_INPUTS, TARGETS
from .policy import DriftThresholds, QualityLimits
from .vocabulary import CATEGORIES, COUNTRIES


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    warn_only: bool = False  # a failure of a blocking check that should warn, not block


WORLD_POPULATION_2023 = 8.1e9
# Upper bounds no real channel can pass, and why: a model must not learn from impossible numbers.
PLAUSIBLE_MAX: dict[str, tuple[float, str]] = {
    "uploads": (10_000_000, "the API accepts at most 10,000,000 uploads; a model must not learn from inputs it refuses"),
    "subscribers": (WORLD_POPULATION_2023, "no channel has more subscribers than there are people"),
    "subscribers_for_last_30_days": (WORLD_POPULATION_2023, "no channel gains more subscribers than there are people"),
    "video_views": (1e13, "10 trillion lifetime views is over 40x the most-viewed channel of 2023 (2.3e11)"),
    "video_views_for_the_last_30_days": (1e12, "a trillion views in 30 days is more than YouTube serves in that time"),
    "highest_yearly_earnings": (1e10, "ten billion dollars a year is 60x the top estimate of 2023 (1.6e8)"),
}


NON_NEGATIVE_COLUMNS = (
    "subscribers", "video_views", "uploads", "video_views_for_the_last_30_days", "lowest_monthly_earnings",
    "highest_monthly_earnings", "lowest_yearly_earnings", "highest_yearly_earnings",
    "subscribers_for_last_30_days", "population", "urban_population",
)


@dataclass(frozen=True)
class ChannelDuplicates:
    """What no_duplicate_channels reports on: computed where the raw data is read, and recorded (see ml/source.py)."""

    duplicate_rows: int  # rows whose channel (Youtuber, trimmed, case-insensitive) appeared on an earlier row
    channels: int  # channels that appear more than once
    examples: list[str]  # up to 20 of their names as written, sorted

    @classmethod
    def of(cls, raw: pd.DataFrame) -> ChannelDuplicates:
        names = [name.strip().casefold() for name in raw["Youtuber"].astype(str).tolist()]
        channel, channels = pd.factorize(pd.Series(names, dtype=object))  # one hash pass: the channel of every row
        rows_per_channel = np.bincount(channel, minlength=len(channels))
        repeated = rows_per_channel[channel] > 1
        return cls(duplicate_rows=len(names) - len(channels), channels=int((rows_per_channel > 1).sum()),
                   examples=sorted(raw.loc[repeated, "Youtuber"].astype(str).unique())[:20])

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def raw_schema(raw: pd.DataFrame | Sequence[str]) -> CheckOutcome:
    """`raw`: the raw frame, or its column names."""
    present = [str(c) for c in (raw.columns if isinstance(raw, pd.DataFrame) else raw)]
    missing = [c for c in RAW_COLUMNS if c not in present]
    unexpected = [c for c in present if c not in RAW_COLUMNS]
    passed = not missing and not unexpected
    return CheckOutcome(
        passed=passed,
        description=(f"all {len(RAW_COLUMNS)} expected columns present" if passed
                     else f"{len(missing)} expected columns missing ({', '.join(missing) or '-'}), "
                          f"{len(unexpected)} unexpected ({', '.join(unexpected) or '-'})"),
        metadata={"expected_columns": len(RAW_COLUMNS), "found_columns": len(present),
                  "missing_columns": missing, "unexpected_columns": unexpected},
    )


def row_count(frame: pd.DataFrame | int, thresholds: QualityLimits) -> CheckOutcome:
    """`frame`: the frame, or its row count."""
    rows = frame if isinstance(frame, int) else len(frame)
    passed = thresholds.min_rows <= rows <= thresholds.max_rows
    return CheckOutcome(
        passed=passed,
        description=f"{rows} rows ({'within' if passed else 'outside'} {thresholds.min_rows}..{thresholds.max_rows})",
        metadata={"rows": rows, "min_rows": thresholds.min_rows, "max_rows": thresholds.max_rows},
    )


def duplicate_channels(raw: pd.DataFrame | ChannelDuplicates) -> CheckOutcome:
    """`raw`: the raw frame, or its ChannelDuplicates."""
    found = raw if isinstance(raw, ChannelDuplicates) else ChannelDuplicates.of(raw)
    extra_rows = found.duplicate_rows
    return CheckOutcome(
        passed=extra_rows == 0,
        description="no duplicate channels" if extra_rows == 0 else
        f"{extra_rows} duplicate rows over {found.channels} channels",
        metadata={"duplicate_rows": extra_rows, "duplicated_channels": list(found.examples)},
    )


def null_rates(processed: pd.DataFrame, thresholds: QualityLimits) -> CheckOutcome:
    rates = processed.isna().mean()
    limits = {c: thresholds.max_null_rate.get(c, thresholds.default_max_null_rate) for c in processed.columns}
    over = {c: {"null_rate": round(float(rates[c]), 4), "limit": limits[c]} for c in processed.columns if rates[c] > limits[c]}
    return CheckOutcome(
        passed=not over,
        description="every column within its null-rate limit" if not over else
        "null rate over the limit in " + ", ".join(f"{c} ({v['null_rate']:.1%} > {v['limit']:.0%})" for c, v in over.items()),
        metadata={"columns_over_limit": over, "worst_null_rate": round(float(rates.max()), 4),
                  "worst_column": str(rates.idxmax())},
    )


def non_negative(processed: pd.DataFrame) -> CheckOutcome:
    negatives = {c: int((processed[c] < 0).sum()) for c in NON_NEGATIVE_COLUMNS if c in processed}
    negatives = {c: n for c, n in negatives.items() if n}
    return CheckOutcome(
        passed=not negatives,
        description="no negative counts or earnings" if not negatives else
        "negative values in " + ", ".join(f"{c} ({n} rows)" for c, n in negatives.items()),
        metadata={"negative_rows_by_column": negatives, "columns_checked": len(NON_NEGATIVE_COLUMNS)},
    )


def created_year_range(processed: pd.DataFrame, reference_year: int) -> CheckOutcome:
    years = processed["created_year"]
    outside = processed.loc[years.notna() & ~years.between(YOUTUBE_FOUNDED_YEAR, reference_year)]
    examples = {str(row.youtuber): int(row.created_year) for row in outside.head(10).itertuples()}
    return CheckOutcome(
        passed=outside.empty,
        description=f"every created_year within {YOUTUBE_FOUNDED_YEAR}..{reference_year}" if outside.empty else
        f"{len(outside)} rows with created_year outside {YOUTUBE_FOUNDED_YEAR}..{reference_year}; their age is left missing",
        metadata={"rows_outside": int(len(outside)), "examples": examples,
                  "min_year": _number(years.min()), "max_year": _number(years.max())},
    )


def vocabulary(processed: pd.DataFrame, thresholds: QualityLimits) -> CheckOutcome:
    unknown: dict[str, dict[str, int]] = {}
    shares: dict[str, float] = {}
    for column, known in (("category", CATEGORIES), ("country", COUNTRIES)):
        values = processed[column].dropna().astype(str)
        outside = values[~values.isin(known)]
        unknown[column] = outside.value_counts().head(20).to_dict()
        shares[column] = round(len(outside) / max(len(values), 1), 4)
    passed = all(share <= thresholds.max_unknown_vocabulary_share for share in shares.values())
    return CheckOutcome(
        passed=passed,
        description=("categories and countries within the 2023 vocabulary" if not any(unknown.values()) else
                     "unknown values: " + "; ".join(f"{c} {shares[c]:.1%}" for c in shares))
        + ("" if passed else f" (limit {thresholds.max_unknown_vocabulary_share:.0%})"),
        metadata={"unknown_share": shares, "unknown_values": unknown},
    )


def known_labels(processed: pd.DataFrame, thresholds: QualityLimits) -> CheckOutcome:
    known = {target: int((processed[column].notna() & (processed[column] >= 0)).sum()) for target, column in TARGETS.items()}
    short = {t: n for t, n in known.items() if n < thresholds.min_known_labels}
    return CheckOutcome(
        passed=not short,
        description=", ".join(f"{t}: {n}" for t, n in known.items()) + " rows with a known label"
        + ("" if not short else f"; below the minimum of {thresholds.min_known_labels}: {', '.join(short)}"),
        metadata={"known_labels": known, "min_known_labels": thresholds.min_known_labels},
    )


def plausible_values(processed: pd.DataFrame) -> CheckOutcome:
    """Every value within the bound no real channel can pass (PLAUSIBLE_MAX, each with its reason)."""
    over = {}
    for column, (bound, why) in PLAUSIBLE_MAX.items():
        if column in processed:
            rows = processed.loc[processed[column] > bound]
            if len(rows):
                over[column] = {"rows": int(len(rows)), "bound": bound, "max": float(rows[column].max()), "why": why,
                                "examples": rows["youtuber"].astype(str).head(5).tolist() if "youtuber" in rows else []}
    return CheckOutcome(
        passed=not over,
        description="every value within its plausible bound" if not over else "implausible values: " + "; ".join(
            f"{c} > {v['bound']:.3g} in {v['rows']} rows (max {v['max']:.3g}): {v['why']}" for c, v in over.items()),
        metadata={"over_bound": over, "bounds": {c: b for c, (b, _) in PLAUSIBLE_MAX.items()}},
    )


def training_drift(processed: pd.DataFrame, serving: ServingBaseline, thresholds: DriftThresholds) -> CheckOutcome:
    """PSI of the new training inputs against the serving run's baseline: warns on drift, blocks past max_training_psi."""
    if serving.problem:
        return CheckOutcome(False, f"the serving run's baseline cannot be used: {serving.problem}")
    if serving.baseline is None:
        return CheckOutcome(True, "no serving run to compare the training data with")
    run_id, baseline = serving.run_id, serving.baseline
    accumulator = DriftAccumulator(baseline, thresholds)
    accumulator.add_columns({name: processed[name] for name in MODEL_INPUTS})  # whole columns: no record is built
    summary = accumulator.summary()
    worst = max(summary["psi"].values(), default=0.0)
    blocks = worst > thresholds.max_training_psi
    drifted = summary["drifted_features"]
    return CheckOutcome(
        passed=not drifted,
        description=(f"training inputs match the serving run {run_id}'s baseline (max PSI {worst:.3f})" if not drifted
                     else f"training inputs drifted from the serving run {run_id}: {', '.join(drifted)} (max PSI "
                          f"{worst:.3f}; blocks over {thresholds.max_training_psi})"),
        metadata={"psi": summary["psi"], "drifted_features": drifted, "serving_run_id": run_id,
                  "max_training_psi": thresholds.max_training_psi},
        warn_only=not blocks,
    )


def artifacts_match_manifest(manifest: dict[str, Any]) -> CheckOutcome:
    mismatched: list[str] = []
    missing: list[str] = []
    for name, artifact in manifest["artifacts"].items():
        try:
            if sha256_file(artifact["path"]) != artifact["sha256"]:
                mismatched.append(name)
        except FileNotFoundError:
            missing.append(name)
    passed = not mismatched and not missing
    return CheckOutcome(
        passed=passed,
        description=(f"all {len(manifest['artifacts'])} artifacts match their sha256" if passed
                     else f"{len(missing)} artifacts missing, {len(mismatched)} changed since the manifest"),
        metadata={"artifacts": len(manifest["artifacts"]), "missing": missing, "mismatched": mismatched},
    )


def _number(value: object) -> float | None:
    return None if pd.isna(value) else float(np.asarray(value))
