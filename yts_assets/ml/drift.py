"""Drift of prediction inputs against the training baseline, shared by Dagster and the API.

Per record (the original platform's contract: `index`, `warnings`, `severity`): z-scores of numeric inputs against the
baseline mean and std, baseline frequency of each categorical value, and a severity. Per
batch: a population stability index (PSI) for each feature over the baseline's bins.
Everything is vectorized: 500 records take a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from .policy import DriftThresholds

MISSING = "__missing__"
UNSEEN = "__unseen__"
PSI_EPSILON = 1e-4
SEVERITIES = ("low", "medium", "high")


def transform(name: str, values: np.ndarray, baseline: Mapping[str, Any]) -> np.ndarray:
    if baseline["numeric"][name].get("transform") == "log1p":
        return np.log1p(np.clip(values, 0, None))
    return values


def psi(expected: np.ndarray, counts: np.ndarray) -> float:
    """PSI of observed counts against expected fractions; half a pseudo-count keeps empty bins finite."""
    actual = (counts + 0.5) / (counts.sum() + 0.5 * len(counts))
    expected = np.clip(expected, PSI_EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _numeric_columns(records: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, np.ndarray]:
    return {name: np.array([_as_float(r.get(name)) for r in records], dtype=float) for name in names}


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _category_keys(records: Sequence[Mapping[str, Any]], name: str) -> list[str]:
    keys = []
    for record in records:
        value = record.get(name)
        keys.append(value.strip().casefold() if isinstance(value, str) and value.strip() else MISSING)
    return keys


def drift_report(records: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any],
                 thresholds: DriftThresholds = DriftThresholds()) -> dict[str, Any]:
    """Severity per record and a batch summary with PSI per feature and `is_drift_risk`."""
    total = len(records)
    numeric_names = list(baseline["numeric"])
    categorical_names = list(baseline["categorical"])
    psi_by_feature: dict[str, float] = {}
    noise_floor: dict[str, float] = {}
    z_scores = np.zeros((total, len(numeric_names)))
    for column, (name, values) in enumerate(_numeric_columns(records, numeric_names).items()):
        stats = baseline["numeric"][name]
        x = transform(name, values, baseline)
        z = (x - stats["mean"]) / stats["std"] if stats["std"] > 0 else np.zeros_like(x)
        z_scores[:, column] = np.nan_to_num(z, nan=0.0)
        known = x[~np.isnan(x)]
        edges = np.asarray(stats["bin_edges"])[1:-1]
        counts = np.bincount(np.searchsorted(edges, known, side="right"), minlength=len(edges) + 1)
        if known.size:
            psi_by_feature[name] = psi(np.asarray(stats["bin_fractions"]), counts)
            noise_floor[name] = len(edges) / known.size

    rare = np.zeros((total, len(categorical_names)), dtype=bool)
    record_frequency: dict[str, np.ndarray] = {}
    for column, name in enumerate(categorical_names):
        frequencies = {k.casefold() if k != MISSING else MISSING: v
                       for k, v in baseline["categorical"][name]["frequencies"].items()}
        keys = _category_keys(records, name)
        freq = np.array([frequencies.get(k, 0.0) for k in keys])
        record_frequency[name] = freq
        rare[:, column] = freq < thresholds.min_category_frequency
        present = [k for k in keys if k != MISSING]
        if present:  # PSI over present values: the API never sends a missing category or country
            observed = {k: v for k, v in frequencies.items() if k != MISSING}
            vocabulary = list(observed) + [UNSEEN]
            index = {k: i for i, k in enumerate(vocabulary)}
            counts = np.bincount([index.get(k, len(vocabulary) - 1) for k in present], minlength=len(vocabulary))
            expected = np.array(list(observed.values()) + [0.0]) / max(sum(observed.values()), PSI_EPSILON)
            psi_by_feature[name] = psi(expected, counts)
            noise_floor[name] = (len(vocabulary) - 1) / len(present)

    abs_z = np.abs(z_scores)
    issues = (abs_z > thresholds.z_threshold).sum(axis=1) + rare.sum(axis=1)
    extreme = (abs_z > 2 * thresholds.z_threshold).any(axis=1)
    severity_index = np.where((issues >= 2) | extreme, 2, np.where(issues == 1, 1, 0))

    psi_counts = total >= thresholds.min_psi_records
    drifted = {name: value for name, value in psi_by_feature.items()
               if psi_counts and value > thresholds.psi_threshold + noise_floor.get(name, 0.0)}
    high = int((severity_index == 2).sum())
    high_share = high / total if total else 0.0
    is_drift_risk = bool(drifted) or high_share > thresholds.max_high_severity_share
    medium_signal = high_share > thresholds.max_high_severity_share / 2 or (psi_counts and any(
        v > thresholds.psi_threshold / 2 + noise_floor.get(k, 0.0) for k, v in psi_by_feature.items()))
    summary = {
        "total_records": total,
        "high_severity_records": high,
        "total": total,
        "severity_counts": {s: int((severity_index == i).sum()) for i, s in enumerate(SEVERITIES)},
        "high_severity_count": high,
        "high_severity_share": round(high_share, 4),
        "psi": {k: round(v, 4) for k, v in psi_by_feature.items()},
        "psi_noise_floor": {k: round(v, 4) for k, v in noise_floor.items()},
        "psi_used_for_risk": psi_counts,
        "drifted_features": sorted(drifted),
        "is_drift_risk": is_drift_risk,
        "batch_severity": "high" if is_drift_risk else ("medium" if medium_signal else "low"),
        "settings": asdict(thresholds),
    }
    return {"summary": summary, "records": _record_details(records, numeric_names, categorical_names, z_scores,
                                                           record_frequency, severity_index, thresholds)}


def _record_details(records: Sequence[Mapping[str, Any]], numeric_names: list[str], categorical_names: list[str],
                    z_scores: np.ndarray, frequency: dict[str, np.ndarray], severity_index: np.ndarray,
                    thresholds: DriftThresholds) -> list[dict[str, Any]]:
    rounded = np.round(z_scores, 3).tolist()
    frequencies = {name: np.round(values, 4).tolist() for name, values in frequency.items()}
    details = []
    for i in range(len(records)):
        flags = [f"{name} z={rounded[i][j]:+.2f}" for j, name in enumerate(numeric_names)
                 if abs(rounded[i][j]) > thresholds.z_threshold]
        flags += [f"{name} {'unseen' if frequencies[name][i] == 0 else 'rare'} ({records[i].get(name)!r})"
                  for name in categorical_names if frequencies[name][i] < thresholds.min_category_frequency]
        details.append({
            "index": i,
            "severity": SEVERITIES[severity_index[i]],
            "z_scores": dict(zip(numeric_names, rounded[i])),
            "category_frequency": {name: frequencies[name][i] for name in categorical_names},
            "warnings": flags,
            "flags": flags,
        })
    return details

