"""Loading, validation, cleaning and the demo dataset, without Dagster."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from yts_assets.core.paths import ProjectPaths
from yts_assets.ml.dataset import RAW_COLUMNS, DatasetError, load_raw, process, snake_case
from yts_assets.ml.demo import demo_csv_bytes, generate_demo_frame
from yts_assets.ml.source import locate_real_csv, read_source


def test_snake_case_names():
    assert snake_case("Gross tertiary education enrollment (%)") == "gross_tertiary_education_enrollment_pct"
    assert snake_case("video views") == "video_views"
    assert snake_case("Youtuber") == "youtuber"


def test_real_csv_processed_shape_and_labels(real_csv: Path):
    raw = load_raw(real_csv)
    assert raw.encoding == "latin-1"
    assert raw.sha256 == "950895e16683d2944cf40ded2d57052c5c27de8339b0e3713ac421e1b589de21"
    processed = process(raw.frame).frame
    assert processed.shape == (995, 30)
    assert processed["growth_target"].isna().sum() == 337
    assert (processed["growth_target"] == 0).sum() == (raw.frame["subscribers_for_last_30_days"] == 0).sum()
    assert processed["category"].isna().sum() == 46
    assert processed["country"].isna().sum() == 122


def test_age_uses_reference_year_not_the_clock():
    raw = generate_demo_frame()
    default = process(raw).frame
    later = process(raw, reference_year=2030).frame
    known = default["age"].notna()
    assert np.allclose(later.loc[known, "age"] - default.loc[known, "age"], 7)
    row_1970 = default.index[default["created_year"] == 1970]
    assert len(row_1970) == 1 and default.loc[row_1970, "age"].isna().all()


def test_demo_is_deterministic_and_looks_like_the_real_data():
    assert demo_csv_bytes() == demo_csv_bytes()
    raw = load_raw(Path("demo.csv"), demo_csv_bytes())
    assert list(raw.frame.columns) == list(RAW_COLUMNS)
    assert raw.frame.shape == (995, 28)
    text = demo_csv_bytes().decode("latin-1")
    assert ",nan," in text
    processed = process(raw.frame).frame
    assert processed["growth_target"].isna().sum() == 337
    assert processed["category"].isna().sum() == 46
    assert (processed["uploads"] == 0).sum() > 0
    assert processed["subscribers"].max() == 245e6


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"   \n", "is empty"),
        (",".join(RAW_COLUMNS).encode() + b"\n", "no data rows"),
        (b"\xff\xfer\x00a\x00n\x00k\x00", "not a text CSV"),
        (b"sepal_length,sepal_width,species\n5.1,3.5,setosa\n", "is not the Global YouTube Statistics dataset"),
        (b'"unterminated\n1,2\n', "could not be parsed as CSV"),
    ],
)
def test_bad_files_are_refused_with_a_named_reason(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=message) as error:
        load_raw(path)
    assert str(path) in str(error.value)


def test_missing_required_columns_are_listed(tmp_path: Path):
    frame = generate_demo_frame().drop(columns=["uploads", "Country"])
    path = tmp_path / "missing.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DatasetError, match="missing required columns: uploads, Country"):
        load_raw(path)


def test_required_numeric_column_without_numbers_is_refused(tmp_path: Path):
    frame = generate_demo_frame()
    frame["subscribers"] = "many"
    path = tmp_path / "text.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DatasetError, match="'subscribers' holds no numeric values"):
        load_raw(path)


def test_source_order_env_then_project_then_demo(project: ProjectPaths, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    assert locate_real_csv(project) is None
    _, kind = read_source(project)
    assert kind == "demo"
    project.default_real_csv.write_bytes(demo_csv_bytes())
    assert locate_real_csv(project) == project.default_real_csv
    other = tmp_path / "elsewhere.csv"
    other.write_bytes(demo_csv_bytes())
    monkeypatch.setenv("YTS_DATA_PATH", str(other))
    assert locate_real_csv(project) == other.resolve()
    assert locate_real_csv(project, "demo") is None


def test_missing_explicit_path_names_paths_and_env_vars(project: ProjectPaths, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("YTS_DATA_PATH", "/nowhere/youtube.csv")
    with pytest.raises(DatasetError) as error:
        locate_real_csv(project)
    assert "/nowhere/youtube.csv" in str(error.value)
    assert "YTS_DATA_PATH" in str(error.value)
    assert str(project.default_real_csv) in str(error.value)


def test_real_mode_without_a_file_names_what_it_tried(project: ProjectPaths):
    with pytest.raises(DatasetError) as error:
        locate_real_csv(project, "real")
    message = str(error.value)
    assert str(project.default_real_csv) in message
    assert "YTS_DATA_PATH" in message and "YTS_PROJECT_ROOT" in message


def test_processing_is_deterministic():
    raw = generate_demo_frame()
    first = process(raw).frame.to_csv(index=False)
    second = process(raw.copy()).frame.to_csv(index=False)
    assert first == second
    assert isinstance(process(raw).frame, pd.DataFrame)
