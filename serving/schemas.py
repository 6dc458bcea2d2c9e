"""Request and response models of the API (pydantic): the original platform's contract, and yts's additions beside it.

Field names, types, bounds and defaults follow ../shared/CONTRACT.md. Unknown request fields are
accepted (old clients send extra keys) and named in the response's `warnings`; every other rule holds.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from yts_assets.core.payloads import MAX_UPLOADS, ChannelInput
from yts_assets.ml.features import EXTENDED_INPUTS

MAX_BATCH = 500
MAX_SIMULATION_POINTS = 200
MAX_RANGE_POINTS = 10_000
MAX_NAMED_UNKNOWN = 10
MAX_SHOWN_NAME = 60
EXTENDED_FIELDS: tuple[str, ...] = tuple(EXTENDED_INPUTS)  # channel_type, video_views, video_views_last_30_days
Severity = Literal["low", "medium", "high"]
Target = Literal["subscribers", "earnings", "growth"]
InputSchema = Literal["contract", "extended"]
INPUT_SCHEMA_DOC = ("the model set that served the row: `extended` when channel_type, video_views and "
                    "video_views_last_30_days were all given and the run has extended models, else `contract` "
                    "(uploads, category, country, age only)")
INTERVALS_DOC = ("prediction intervals in raw units at `coverage`; null when the run was trained without them "
                 "(runs before intervals)")


def unknown_field_warnings(model: BaseModel, where: str = "") -> list[str]:
    """One warning per unknown field (at most MAX_NAMED_UNKNOWN named, each name cut to MAX_SHOWN_NAME)."""
    names = list(model.model_extra or ())
    if not names:
        return []
    prefix = f"{where}: " if where else ""
    shown = [f"{prefix}unknown field {name[:MAX_SHOWN_NAME]!r} was ignored" for name in names[:MAX_NAMED_UNKNOWN]]
    if len(names) > MAX_NAMED_UNKNOWN:
        shown.append(f"{prefix}{len(names) - MAX_NAMED_UNKNOWN} more unknown fields were ignored")
    return shown


class PredictRequest(ChannelInput):
    """{uploads, category, country, age}, and optionally {channel_type, video_views, video_views_last_30_days}
    (all three: the extended models serve the row). Blank strings and unpaired surrogates are refused (pydantic:
    `string_unicode`); unknown fields are ignored and named in `warnings`."""


class LenientRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="allow")


class Prediction(BaseModel):
    predicted_subscribers: float
    predicted_earnings: float
    predicted_growth: float


class Interval(BaseModel):
    lower: float = Field(description="lower bound, raw units (never below 0)")
    upper: float = Field(description="upper bound, raw units")


class Intervals(BaseModel):
    """Split-conformal prediction intervals of the three outputs, in raw units."""

    coverage: float = Field(description="nominal coverage: the share of channels like the training ones whose true "
                                        "value the interval holds (e.g. 0.8)")
    predicted_subscribers: Interval
    predicted_earnings: Interval
    predicted_growth: Interval


class PredictionRecord(Prediction):
    warnings: list[str] = Field(default_factory=list, description=(
        "unknown fields, inputs the model has not seen, and extended inputs that could not be used"))
    input_schema: InputSchema = Field(description=INPUT_SCHEMA_DOC)
    intervals: Intervals | None = Field(description=INTERVALS_DOC)


class PredictResponse(PredictionRecord):
    run_id: str


class BatchRequest(LenientRequest):
    items: list[PredictRequest] = Field(min_length=1, max_length=MAX_BATCH)


class BatchSummary(BaseModel):
    count: int
    avg_predicted_subscribers: float
    avg_predicted_earnings: float
    avg_predicted_growth: float
    with_warnings: int = Field(description="records whose `warnings` is not empty")
    by_input_schema: dict[InputSchema, int] = Field(description="records per `input_schema` (contract, extended)")


class BatchResponse(BaseModel):
    run_id: str
    records: list[PredictionRecord]
    summary: BatchSummary
    warnings: list[str] = Field(default_factory=list, description="unknown top-level fields")


class SimulateRequest(LenientRequest):
    """Either the original form (`start_uploads`, `end_uploads`, `step`: every step of the range) or yts's
    (`uploads_min`, `uploads_max`, `points`, `scale`: a fixed number of points, linear or log spaced)."""

    category: str = Field(min_length=1, max_length=100)
    country: str = Field(min_length=1, max_length=100)
    age: int = Field(ge=0, le=100)
    start_uploads: int | None = Field(default=None, ge=0, le=MAX_UPLOADS)
    end_uploads: int | None = Field(default=None, ge=0, le=MAX_UPLOADS, description="at least start_uploads")
    step: int | None = Field(default=None, ge=1, le=200_000,
                             description=f"the range may hold at most {MAX_RANGE_POINTS} points")
    uploads_min: int | None = Field(default=None, ge=0, le=MAX_UPLOADS)
    uploads_max: int | None = Field(default=None, ge=0, le=MAX_UPLOADS, description="at least uploads_min")
    points: int = Field(default=20, ge=2, le=MAX_SIMULATION_POINTS)
    scale: Literal["linear", "log"] = "linear"
    channel_type: str | None = Field(default=None, min_length=1, max_length=100,
                                     description="optional, extended schema; held fixed across the sweep")
    video_views: int | None = Field(default=None, ge=0, le=10**13,
                                    description="optional, extended schema; held fixed across the sweep")
    video_views_last_30_days: int | None = Field(default=None, ge=0, le=10**12,
                                                 description="optional, extended schema; held fixed across the sweep")

    @property
    def original_form(self) -> bool:
        return any(v is not None for v in (self.start_uploads, self.end_uploads, self.step))

    @model_validator(mode="after")
    def one_complete_form(self) -> "SimulateRequest":
        ours = any(v is not None for v in (self.uploads_min, self.uploads_max))
        if self.original_form and ours:
            raise ValueError("give either start_uploads/end_uploads/step or uploads_min/uploads_max, not both")
        if self.original_form:
            self._check_range("start_uploads", "end_uploads", self.start_uploads, self.end_uploads, ("step", self.step))
            count = (self.end_uploads - self.start_uploads) // self.step + 1  # type: ignore[operator]
            if count > MAX_RANGE_POINTS:
                raise ValueError(f"start_uploads..end_uploads by step {self.step} gives {count} points, over the "
                                 f"limit of {MAX_RANGE_POINTS}: raise step")
        else:
            self._check_range("uploads_min", "uploads_max", self.uploads_min, self.uploads_max)
        return self

    @staticmethod
    def _check_range(low_name: str, high_name: str, low: int | None, high: int | None,
                     *others: tuple[str, int | None]) -> None:
        missing = [name for name, value in ((low_name, low), (high_name, high), *others) if value is None]
        if missing:
            raise ValueError(f"{', '.join(missing)} required: give start_uploads, end_uploads and step, "
                             "or uploads_min and uploads_max")
        if high < low:  # type: ignore[operator]
            raise ValueError(f"{high_name} must be greater than or equal to {low_name}")

    def upload_grid(self) -> np.ndarray:
        if self.original_form:
            return np.arange(self.start_uploads, self.end_uploads + 1, self.step, dtype=np.int64)  # type: ignore[operator]
        low, high = float(self.uploads_min), float(self.uploads_max)  # type: ignore[arg-type]
        grid = (np.expm1(np.linspace(np.log1p(low), np.log1p(high), self.points)) if self.scale == "log"
                else np.linspace(low, high, self.points))
        return np.unique(np.rint(grid).astype(np.int64))

    def echo(self) -> dict[str, Any]:
        """The request as understood, in the form it was sent."""
        names = (("start_uploads", "end_uploads", "step") if self.original_form
                 else ("uploads_min", "uploads_max", "points", "scale"))
        extended = {name: value for name in EXTENDED_FIELDS if (value := getattr(self, name)) is not None}
        return {"category": self.category, "country": self.country, "age": self.age,
                **{name: getattr(self, name) for name in names}, **extended}


class SimulatedPoint(Prediction):
    uploads: int
    intervals: Intervals | None = Field(description=INTERVALS_DOC)


class SimulateResponse(BaseModel):
    run_id: str
    input: dict[str, int | str] = Field(description="the request echoed, in the form it was sent")
    points: list[SimulatedPoint]
    best_uploads_by_growth: int
    best_uploads_by_earnings: int
    warnings: list[str] = Field(default_factory=list)
    input_schema: InputSchema = Field(description=INPUT_SCHEMA_DOC + "; one schema for the whole sweep")
    intervals: Intervals | None = Field(description=(
        "the envelope of the points' intervals: per output, the lowest lower bound and the highest upper bound over "
        "the sweep (each point's own interval is in `points[].intervals`); null when the run was trained without "
        "intervals"))


class ClusterAssignment(BaseModel):
    cluster_id: int
    archetype: str


class RecommendationResponse(PredictResponse):
    prediction: Prediction
    cluster: ClusterAssignment
    archetype: str
    risk_level: Severity = Field(description="from predicted growth: high under 20,000, medium under 120,000, else low")
    drift_severity: Severity = Field(description="how unusual the input is for the training data")
    drift_flags: list[str]
    recommendations: list[str]


class ImportanceRecord(BaseModel):
    feature: str
    importance: float = Field(description="mean drop in log1p R² when the feature is permuted")
    std: float


class FeatureImportanceResponse(BaseModel):
    run_id: str
    target: Target
    method: str
    records: list[ImportanceRecord]
    input_schema: InputSchema = Field(description="the model set whose importance this is")


class ClusterRecord(BaseModel):
    cluster_id: int
    archetype: str
    size: int
    avg_uploads: float | None
    avg_subscribers: float | None
    avg_earnings: float | None
    avg_growth: float | None
    dominant_category: str | None
    median_uploads: float | None
    median_subscribers: float | None
    median_earnings: float | None
    median_growth: float | None


class ClustersResponse(BaseModel):
    run_id: str
    records: list[ClusterRecord]
    archetypes: list[str]
    profiles: list[dict[str, Any]]
    dbscan: dict[str, int]
    growth_handling: str


class DriftCheckRequest(LenientRequest):
    items: list[PredictRequest] = Field(min_length=1, max_length=MAX_BATCH)
    z_threshold: float = Field(default=3.0, ge=0.1, le=10, allow_inf_nan=False)
    min_category_frequency: float = Field(default=0.01, ge=0, le=1, allow_inf_nan=False)


class DriftRecord(BaseModel):
    index: int
    warnings: list[str]
    severity: Severity
    z_scores: dict[str, float]
    category_frequency: dict[str, float]


class DriftSummary(BaseModel):
    model_config = ConfigDict(extra="allow")
    total_records: int
    high_severity_records: int
    is_drift_risk: bool
    batch_severity: Severity
    psi: dict[str, float]
    drifted_features: list[str]


class DriftCheckResponse(BaseModel):
    run_id: str
    summary: DriftSummary
    records: list[DriftRecord]
    warnings: list[str] = Field(default_factory=list, description="unknown fields, top-level and per item")


class HealthResponse(BaseModel):
    status: Literal["ok"]
    run_id: str | None


class ReadyResponse(BaseModel):
    ready: bool
    active_run_id: str | None
    serving_run_id: str | None
    problems: list[str]


class Manifest(BaseModel):
    """The original's top-level keys; yts's richer structure (`data`, `artifacts`, `packages`...) beside them."""

    model_config = ConfigDict(extra="allow")
    run_id: str
    timestamp_utc: str
    python_version: str
    platform: str
    data_path: str
    data_sha256: str
    training_config: dict[str, Any]
    metrics: dict[str, Any]
    artifact_hashes: dict[str, str]
    artifact_paths: dict[str, str]


class RegistryRun(BaseModel):
    model_config = ConfigDict(extra="allow")
    run_id: str
    timestamp_utc: str
    artifact_paths: dict[str, str]
    training_config: dict[str, Any]
    status: str


class Registry(BaseModel):
    model_config = ConfigDict(extra="allow")
    active_run_id: str | None
    runs: list[RegistryRun]
    serving_run_id: str | None


class Capabilities(BaseModel):
    """The original's five groups of booleans, answered for yts's stack, and yts's own keys."""

    experiment_tracking: dict[str, bool]
    hpo: dict[str, bool]
    feature_store: dict[str, bool]
    orchestration: dict[str, bool]
    monitoring: dict[str, bool]
    installed: dict[str, str | None]
    enabled: dict[str, bool | str]
    definitions: dict[str, Any]
    model: dict[str, Any]


class PromoteRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")
    run_id: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)


class RegistryChange(BaseModel):
    active_run_id: str | None
    serving_run_id: str | None = Field(description="the run this process serves after reloading")


class RollbackRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)
