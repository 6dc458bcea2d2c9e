"""Typed Dagster resources: where the project lives (`settings`) and the gate policy (`gate_policy`)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from dagster import Config, ConfigurableResource
from pydantic import Field, create_model

from .core import config
from .core.paths import ProjectPaths
from .ml.dataset import DEFAULT_REFERENCE_YEAR
from .ml.policy import DriftThresholds, GatePolicy, PromotionPolicy, QualityLimits, RetrainOnDrift, SkillMinimums
from .ml.source import SourceMode


class YtsSettings(ConfigurableResource):
    """Paths default to YTS_PROJECT_ROOT / YTS_ARTIFACT_DIR / YTS_DATA_PATH, read at run time."""

    project_root: str | None = Field(default=None, description="Project root; default YTS_PROJECT_ROOT or auto-detected.")
    artifact_dir: str | None = Field(default=None, description="Output folder; default YTS_ARTIFACT_DIR or <root>/artifacts.")
    data_source: SourceMode = Field(default="auto", description="auto: the real CSV if found, else demo; real: fail without it; demo.")
    reference_year: int = Field(default=DEFAULT_REFERENCE_YEAR, description="Year the dataset describes; `age` is computed against it.")

    def paths(self) -> ProjectPaths:
        return ProjectPaths.from_env(self.project_root, self.artifact_dir)

    @property
    def snapshot_timestamp(self) -> str:
        """Observation time of the dataset's features: the end of the reference year, not the wall clock."""
        return f"{self.reference_year}-12-31T00:00:00+00:00"


def config_class(policy: type) -> type[Config]:
    """A Dagster Config with the fields and meanings of a policy dataclass (declared once, in ml/policy.py).

    Every field defaults to None, "the policy's default", so setting one field never resets the others.
    """
    hints = typing.get_type_hints(policy)
    fields = {item.name: (hints[item.name] | None, Field(default=None, description=item.metadata.get("doc")))
              for item in dataclasses.fields(policy)}
    return create_model(f"{policy.__name__}Config", __base__=Config, **fields)


def with_overrides(defaults: Any, overrides: Config) -> Any:
    """The policy dataclass with every field that was set; a mapping is merged over the default mapping."""
    changes = {}
    for name, value in overrides.model_dump().items():
        if value is None:
            continue
        default = getattr(defaults, name)
        changes[name] = {**default, **value} if isinstance(default, dict) else value
    return dataclasses.replace(defaults, **changes)


QualityLimitsConfig = config_class(QualityLimits)
SkillMinimumsConfig = config_class(SkillMinimums)
DriftThresholdsConfig = config_class(DriftThresholds)
POLICY_FIELDS = {f.name: f for f in dataclasses.fields(GatePolicy)}


class GatePolicyResource(ConfigurableResource):
    """The gate policy as run or resource config: `resources: {gate_policy: {config: {promotion_policy: manual}}}`.

    Unset fields keep the defaults of ml/policy.py; the drift sensor's high-severity share defaults to
    YTS_RETRAIN_HIGH_SEVERITY_SHARE, read when the policy is used.
    """

    quality: QualityLimitsConfig = Field(default_factory=QualityLimitsConfig, description="data-quality limits")  # type: ignore[valid-type]
    skill: SkillMinimumsConfig = Field(default_factory=SkillMinimumsConfig, description="model skill minimums")  # type: ignore[valid-type]
    drift: DriftThresholdsConfig = Field(default_factory=DriftThresholdsConfig, description="drift thresholds")  # type: ignore[valid-type]
    champion_noise_k: float = Field(default=POLICY_FIELDS["champion_noise_k"].default,
                                    description=POLICY_FIELDS["champion_noise_k"].metadata["doc"])
    champion_min_margin: float = Field(default=POLICY_FIELDS["champion_min_margin"].default,
                                       description=POLICY_FIELDS["champion_min_margin"].metadata["doc"])
    champion_tolerance: float = Field(default=POLICY_FIELDS["champion_tolerance"].default,
                                      description=POLICY_FIELDS["champion_tolerance"].metadata["doc"])
    promotion_policy: PromotionPolicy = Field(default=POLICY_FIELDS["promotion_policy"].default,
                                              description=POLICY_FIELDS["promotion_policy"].metadata["doc"])
    retrain_on_drift: RetrainOnDrift = Field(default=POLICY_FIELDS["retrain_on_drift"].default,
                                             description=POLICY_FIELDS["retrain_on_drift"].metadata["doc"])

    def policy(self) -> GatePolicy:
        share = config.RETRAIN_HIGH_SEVERITY_SHARE.get()
        drift_defaults = DriftThresholds() if share is None else DriftThresholds(max_high_severity_share=share)
        return GatePolicy(
            quality=with_overrides(QualityLimits(), self.quality),
            skill=with_overrides(SkillMinimums(), self.skill),
            drift=with_overrides(drift_defaults, self.drift),
            champion_noise_k=self.champion_noise_k,
            champion_min_margin=self.champion_min_margin,
            champion_tolerance=self.champion_tolerance,
            promotion_policy=self.promotion_policy,
            retrain_on_drift=self.retrain_on_drift,
        )
