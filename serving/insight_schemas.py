"""Response models of the analytics, data-sample and map endpoints (`routers/insights.py`).

The records are the run's `channel_insights.json` (`yts_assets/ml/insights.py`): missing values are null,
counts are integers (a number only if the source held a fraction), means skip missing values.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

Count = Annotated[int | float | None, Field(description="an integer count (null when missing)")]
Amount = Annotated[float | None, Field(description="null when missing, or a mean of nothing")]
Text = str | None
UploadBucket = Literal["0-100", "101-500", "501-2k", "2k-10k", "10k+"]


class ServedRecords(BaseModel):
    run_id: str = Field(description="the serving run the records were computed by")


class CountryMetric(BaseModel):
    country: str
    abbreviation: Text = Field(description="ISO 3166-1 alpha-2, as in the dataset")
    total_subscribers: Count
    total_earnings: Amount = Field(description="sum of highest_yearly_earnings (USD)")
    dominant_category: Text = Field(description="the category with the most summed subscribers; null when none of "
                                                "the country's channels has a category")
    channel_count: int
    avg_growth: Amount = Field(description="mean subscribers_for_last_30_days over the channels that report it")
    latitude: Amount
    longitude: Amount


class CountryMetricsResponse(ServedRecords):
    records: list[CountryMetric] = Field(description="one per country (channels without a country are left out), "
                                                     "by total_subscribers descending")


class RawRecord(BaseModel):
    youtuber: Text
    uploads: Count
    category: Text
    country: Text
    subscribers: Count
    highest_yearly_earnings: Amount
    subscribers_for_last_30_days: Count
    created_year: Count


class RawSampleResponse(ServedRecords):
    records: list[RawRecord] = Field(description="the first `limit` rows of the run's CSV, in file order")


class ProcessedRecord(BaseModel):
    youtuber: Text
    uploads: Count
    category: Text
    country: Text
    age: Count
    subscribers: Count
    highest_yearly_earnings: Amount
    growth_target: Count


class ProcessedSampleResponse(ServedRecords):
    records: list[ProcessedRecord] = Field(description="the first `limit` rows of the processed table")


class CategoryRecord(BaseModel):
    category: str
    channel_count: int
    avg_subscribers: Amount
    avg_earnings: Amount
    avg_growth: Amount
    total_subscribers: Count
    total_earnings: Amount


class CategoryPerformanceResponse(ServedRecords):
    records: list[CategoryRecord] = Field(description="the `top_n` categories by total_subscribers, descending "
                                                      "(channels without a category are left out)")


class BucketRecord(BaseModel):
    upload_bucket: UploadBucket = Field(description="uploads in 0-100, 101-500, 501-2,000, 2,001-10,000, over 10,000")
    channel_count: int
    avg_growth: Amount
    avg_earnings: Amount
    avg_subscribers: Amount


class UploadGrowthBucketsResponse(ServedRecords):
    records: list[BucketRecord] = Field(description="every bucket, in order; an empty one has channel_count 0")
