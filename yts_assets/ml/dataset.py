"""Read, validate and clean the Global YouTube Statistics CSV."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.files import sha256_bytes

RAW_COLUMNS: tuple[str, ...] = (
    "rank", "Youtuber", "subscribers", "video views", "category", "Title", "uploads",
    "Country", "Abbreviation", "channel_type", "video_views_rank", "country_rank",
    "channel_type_rank", "video_views_for_the_last_30_days", "lowest_monthly_earnings",
    "highest_monthly_earnings", "lowest_yearly_earnings", "highest_yearly_earnings",
    "subscribers_for_last_30_days", "created_year", "created_month", "created_date",
    "Gross tertiary education enrollment (%)", "Population", "Unemployment rate",
    "Urban_population", "Latitude", "Longitude",
)
TEXT_COLUMNS = frozenset({"Youtuber", "category", "Title", "Country", "Abbreviation", "channel_type", "created_month"})
REQUIRED_COLUMNS: tuple[str, ...] = (
    "Youtuber", "subscribers", "category", "uploads", "Country",
    "highest_yearly_earnings", "subscribers_for_last_30_days", "created_year",
)
REQUIRED_NUMERIC = tuple(c for c in REQUIRED_COLUMNS if c not in TEXT_COLUMNS)
YOUTUBE_FOUNDED_YEAR = 2005
DEFAULT_REFERENCE_YEAR = 2023


class DatasetError(ValueError):
    """The input file cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class RawDataset:
    frame: pd.DataFrame
    path: Path
    sha256: str
    encoding: str


@dataclass
class ProcessedDataset:
    frame: pd.DataFrame
    transformations: list[str] = field(default_factory=list)


def snake_case(name: str) -> str:
    name = name.replace("%", " pct ")
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def decode_csv_bytes(data: bytes, path: Path) -> tuple[str, str]:
    """Return (text, encoding). The Kaggle file is latin-1; a UTF-8 re-export is accepted too."""
    if not data.strip():
        raise DatasetError(f"{path} is empty: expected the Global YouTube Statistics CSV (995 rows, 28 columns).")
    if b"\x00" in data[:65536]:
        raise DatasetError(
            f"{path} is not a text CSV (it contains NUL bytes; UTF-16 or binary?). "
            "Save it as latin-1 or UTF-8 CSV."
        )
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def parse_raw_csv(data: bytes, path: Path) -> tuple[pd.DataFrame, str]:
    text, encoding = decode_csv_bytes(data, path)
    try:
        frame = pd.read_csv(io.StringIO(text), skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(f"{path} could not be parsed as CSV: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    validate_raw_columns(frame, path)
    if frame.empty:
        raise DatasetError(f"{path} has a header but no data rows.")
    validate_required_numbers(frame, path)
    return frame, encoding


def validate_raw_columns(frame: pd.DataFrame, path: Path) -> None:
    present = set(frame.columns)
    found = [c for c in RAW_COLUMNS if c in present]
    if len(found) < len(RAW_COLUMNS) // 2:
        shown = ", ".join(map(repr, list(frame.columns)[:10]))
        raise DatasetError(
            f"{path} is not the Global YouTube Statistics dataset: only {len(found)} of its "
            f"{len(RAW_COLUMNS)} columns are present (the file has: {shown}"
            f"{', ...' if len(frame.columns) > 10 else ''})."
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in present]
    if missing:
        raise DatasetError(f"{path} is missing required columns: {', '.join(missing)}.")


def validate_required_numbers(frame: pd.DataFrame, path: Path) -> None:
    for column in REQUIRED_NUMERIC:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.notna().sum() == 0:
            raise DatasetError(f"{path}: required numeric column {column!r} holds no numeric values.")


def load_raw(path: Path, data: bytes | None = None) -> RawDataset:
    if data is None:
        data = path.read_bytes()
    frame, encoding = parse_raw_csv(data, path)
    return RawDataset(frame=frame, path=path, sha256=sha256_bytes(data), encoding=encoding)


def clean_text(series: pd.Series) -> pd.Series:
    cleaned = series.astype("string").str.strip()
    return cleaned.mask(cleaned.isin(["", "nan", "NaN", "None", "null"]))


def process(raw: pd.DataFrame, reference_year: int = DEFAULT_REFERENCE_YEAR) -> ProcessedDataset:
    """snake_case names, numeric coercion, `age` against the reference year, `growth_target`."""
    steps: list[str] = []
    frame = raw.copy()
    frame.columns = [snake_case(c) for c in frame.columns]
    steps.append("column names normalized to snake_case ('%' becomes 'pct')")
    text_columns = {snake_case(c) for c in TEXT_COLUMNS}
    coerced_total = 0
    for column in frame.columns:
        if column in text_columns:
            frame[column] = clean_text(frame[column])
            continue
        values = frame[column]
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        if not pd.api.types.is_numeric_dtype(values):  # text that was not a number (blanks and 'nan' do not count)
            given = values.notna() & ~values.astype(str).str.strip().isin(["nan", ""])
            coerced_total += int((given & numbers.isna()).sum())
        frame[column] = numbers
    steps.append(f"text trimmed, 'nan' text set to missing; numeric columns coerced ({coerced_total} unparseable values set to missing)")

    created = frame["created_year"]
    valid_year = created.between(YOUTUBE_FOUNDED_YEAR, reference_year)
    frame["age"] = (reference_year - created).where(valid_year)
    steps.append(
        f"age = {reference_year} - created_year; {int((created.notna() & ~valid_year).sum())} rows with created_year "
        f"outside {YOUTUBE_FOUNDED_YEAR}..{reference_year} and {int(created.isna().sum())} without one get no age"
    )
    frame["growth_target"] = frame["subscribers_for_last_30_days"]
    steps.append(
        f"growth_target = subscribers_for_last_30_days; {int(frame['growth_target'].isna().sum())} missing labels left missing"
    )
    return ProcessedDataset(frame=frame.reset_index(drop=True), transformations=steps)


def read_processed(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={snake_case(c): "string" for c in TEXT_COLUMNS})


def numeric_summary(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    numeric = frame.select_dtypes(include=[np.number])
    described = numeric.describe().T
    return {
        column: {stat: (None if pd.isna(value) else round(float(value), 6)) for stat, value in row.items()}
        for column, row in described.iterrows()
    }
