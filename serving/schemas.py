"""Request and response models of the API (pydantic)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from yts_assets.core.payloads import ChannelInput

MAX_BATCH = 500
MAX_SIMULATION_POINTS = 200


class PredictRequest(ChannelInput):
    """{uploads, category, country, age}; unknown fields are refused, blank strings and unpaired surrogates too
    (pydantic refuses those itself: `string_unicode`)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class Prediction(BaseModel):
    predicted_subscribers: float
    predicted_earnings: float
    predicted_growth: float
    warnings: list[str] = []


class PredictResponse(Prediction):
    run_id: str


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[PredictRequest] = Field(min_length=1, max_length=MAX_BATCH)


class BatchSummary(BaseModel):
    count: int
    with_warnings: int
    mean_predicted_subscribers: float
    mean_predicted_earnings: float
    mean_predicted_growth: float


class BatchResponse(BaseModel):
    run_id: str
    predictions: list[Prediction]
    summary: BatchSummary


class SimulateRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")
    category: str = Field(min_length=1, max_length=100)
    country: str = Field(min_length=1, max_length=100)
    age: float = Field(ge=0, le=100, allow_inf_nan=False)
    uploads_min: float = Field(ge=0, le=10_000_000, allow_inf_nan=False)
    uploads_max: float = Field(ge=0, le=10_000_000, allow_inf_nan=False)
    points: int = Field(default=20, ge=2, le=MAX_SIMULATION_POINTS)
    scale: Literal["linear", "log"] = "linear"

    @model_validator(mode="after")
    def range_is_ordered(self) -> "SimulateRequest":
        if self.uploads_max < self.uploads_min:
            raise ValueError("uploads_max must be greater than or equal to uploads_min")
        return self


class SimulatedPoint(BaseModel):
    uploads: float
    predicted_subscribers: float
    predicted_earnings: float
    predicted_growth: float


class SimulateResponse(BaseModel):
    run_id: str
    points: list[SimulatedPoint]
    warnings: list[str] = []


class RecommendationResponse(PredictResponse):
    archetype: str
    risk_level: Literal["low", "medium", "high"]
    drift_flags: list[str]
    recommendations: list[str]


class DriftCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[PredictRequest] = Field(min_length=1, max_length=MAX_BATCH)
    z_threshold: float = Field(default=3.0, gt=0, le=100, allow_inf_nan=False)
    min_category_frequency: float = Field(default=0.01, ge=0, le=1, allow_inf_nan=False)


class PromoteRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")
    run_id: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)


class RollbackRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)
