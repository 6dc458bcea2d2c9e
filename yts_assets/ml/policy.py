"""The gate policy: every threshold that decides whether data, a model or a batch passes.

Declared once, as frozen dataclasses with a one-line meaning per field. The Dagster resource
`gate_policy` exposes the same fields as run or resource config (yts_assets/resources.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PromotionPolicy = Literal["auto", "manual"]
RetrainOnDrift = Literal["if_new_data", "always", "never"]


def doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class QualityLimits:
    min_rows: int = field(default=100, metadata=doc("fewest raw rows a run may train on"))
    max_rows: int = field(default=1_000_000, metadata=doc(
        "most raw rows a run may train on (benchmarks/bench_scale.py trains 1,000,000 in bounded time and memory)"))
    default_max_null_rate: float = field(default=0.25, metadata=doc("null-rate limit of a column without its own"))
    # Columns the models cannot do without allow no nulls; growth labels are a third missing in 2023.
    max_null_rate: dict[str, float] = field(default_factory=lambda: {
        "youtuber": 0.0, "subscribers": 0.0, "uploads": 0.0, "highest_yearly_earnings": 0.0,
        "category": 0.15, "country": 0.25, "created_year": 0.05, "subscribers_for_last_30_days": 0.5,
        "growth_target": 0.5, "age": 0.05,
    }, metadata=doc("null-rate limit per processed column"))
    max_unknown_vocabulary_share: float = field(default=0.05, metadata=doc(
        "share of categories or countries outside the 2023 vocabulary before vocabulary_known warns"))
    min_known_labels: int = field(default=100, metadata=doc("fewest known labels per target"))


@dataclass(frozen=True)
class SkillMinimums:
    min_skill: float = field(default=0.05, metadata=doc("CV log R² a model must gain over the constant baseline"))
    min_log_r2: float = field(default=0.1, metadata=doc("CV log R² a model must reach"))
    coverage_warn_gap: float = field(default=0.05, metadata=doc(
        "how far an interval's out-of-fold coverage may miss its nominal before interval_coverage warns"))
    coverage_blocking_gap: float = field(default=0.10, metadata=doc(
        "how far an interval's out-of-fold coverage may miss its nominal before interval_coverage blocks"))


@dataclass(frozen=True)
class DriftThresholds:
    z_threshold: float = field(default=3.0, metadata=doc("|z| of a numeric input that counts as an issue"))
    min_category_frequency: float = field(default=0.01, metadata=doc(
        "baseline frequency under which a category or country counts as rare"))
    psi_threshold: float = field(default=0.25, metadata=doc("PSI over the sampling-noise floor that marks a drifted feature"))
    max_high_severity_share: float = field(default=0.10, metadata=doc(
        "share of high-severity records that makes a batch a drift risk"))
    min_psi_records: int = field(default=100, metadata=doc(
        "records a batch needs before its PSI counts toward risk (below, PSI is mostly sampling noise)"))
    max_training_psi: float = field(default=1.0, metadata=doc(
        "PSI of new training data against the serving run's baseline past which training_data_drift blocks; "
        "between psi_threshold and this it warns"))


@dataclass(frozen=True)
class GatePolicy:
    quality: QualityLimits = field(default_factory=QualityLimits)
    skill: SkillMinimums = field(default_factory=SkillMinimums)
    drift: DriftThresholds = field(default_factory=DriftThresholds)
    # no_regression_against_champion: the champion's configuration is refit on the candidate's CV folds and
    # each target's per-fold log R² differences (candidate - champion) are paired. A target regresses when
    # mean < -min(champion_tolerance, max(champion_min_margin, champion_noise_k * standard error)).
    champion_noise_k: float = field(default=2.0, metadata=doc(
        "standard errors of the paired per-fold log R² differences a target's mean difference may fall below 0 "
        "before no_regression_against_champion fails"))
    champion_min_margin: float = field(default=0.005, metadata=doc(
        "a mean per-fold log R² drop this small never fails no_regression_against_champion, however consistent"))
    champion_tolerance: float = field(default=0.02, metadata=doc(
        "a mean per-fold log R² drop larger than this fails no_regression_against_champion, however noisy the folds"))
    promotion_policy: PromotionPolicy = field(default="auto", metadata=doc(
        "auto: promote when every blocking check passed; manual: record a candidate to promote with yts-registry"))
    retrain_on_drift: RetrainOnDrift = field(default="if_new_data", metadata=doc(
        "what a drift-risk payload batch does. if_new_data: train when the data version differs from the active "
        "run's, else raise 'retraining required' for a person; always: train anyway; never: only raise the state"))
