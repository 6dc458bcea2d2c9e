"""The data steps do their work once: the raw CSV is parsed by raw_youtube_stats and by processed_channels'
hash-verified re-read only (the raw checks and the quality report use what raw_youtube_stats recorded), and
process() runs once (data_quality_report reads the transformations processed_channels recorded). The report is the
one the earlier implementation computed, on demo and real data, and still is for runs that recorded neither."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, AssetSelection

from tests.conftest import run_graph
from yts_assets.core.files import read_json
from yts_assets.core.paths import ProjectPaths
from yts_assets.definitions import build_definitions
from yts_assets.ml import dataset
from yts_assets.ml.dataset import load_raw, process, read_processed, snake_case, transformations_path
from yts_assets.ml.features import CATEGORICAL_INPUTS
from yts_assets.ml.source import raw_profile_path, recorded_source

DATA_STEPS = AssetSelection.assets("raw_youtube_stats", "processed_channels", "data_quality_report")


def earlier_table_profile(frame: pd.DataFrame, key_column: str) -> dict:
    """The report's table profile as the earlier implementation computed it."""
    missing = frame.isna().mean().mul(100).round(3)
    return {"rows": int(len(frame)), "columns": int(frame.shape[1]), "duplicate_rows": int(frame.duplicated().sum()),
            "duplicate_channels": int(frame[key_column].duplicated().sum()) if key_column in frame else None,
            "missing_pct": {column: float(value) for column, value in missing.items()}}


def earlier_report(paths: ProjectPaths) -> dict:
    """data_quality_report as the earlier implementation computed it: the raw CSV read again, process() run again."""
    source = recorded_source(paths)
    raw = load_raw(source.path)
    processed = read_processed(paths.processed_csv)
    described = processed.select_dtypes(include=[np.number]).describe().T
    report = {
        "source": source.as_dict(),
        "raw": earlier_table_profile(raw.frame.rename(columns=snake_case), "youtuber"),
        "processed": {
            **earlier_table_profile(processed, "youtuber"),
            "numeric_summary": {column: {stat: (None if pd.isna(value) else round(float(value), 6))
                                         for stat, value in row.items()} for column, row in described.iterrows()},
            "cardinality": {column: int(processed[column].nunique()) for column in CATEGORICAL_INPUTS},
        },
        "transformations": process(raw.frame).transformations,
    }
    return json.loads(json.dumps(report, sort_keys=True, default=str))


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times the raw CSV is parsed and process() runs."""
    counts = {"raw_parses": 0, "process": 0}
    parse, run = dataset.parse_raw_csv, process

    def counting_parse(*args, **kwargs):
        counts["raw_parses"] += 1
        return parse(*args, **kwargs)

    def counting_process(*args, **kwargs):
        counts["process"] += 1
        return run(*args, **kwargs)

    monkeypatch.setattr(dataset, "parse_raw_csv", counting_parse)
    monkeypatch.setattr("yts_assets.defs.data.assets.process", counting_process)
    return counts


@pytest.mark.parametrize("source", ["demo", "real"])
def test_raw_csv_parsed_by_two_steps_and_processed_once(source: str, project: ProjectPaths, instance, counted,
                                                        request: pytest.FixtureRequest):
    if source == "real":
        request.getfixturevalue("use_real_data")
    result = run_graph(instance, selection=DATA_STEPS)
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["raw_schema_matches"] and checks["row_count_in_bounds"] and checks["no_duplicate_channels"]
    assert counted == {"raw_parses": 2, "process": 1}  # raw_youtube_stats, processed_channels; nothing else
    paths = project.for_run(result.run_id)
    assert raw_profile_path(paths).is_file() and transformations_path(paths.processed_csv).is_file()
    assert read_json(paths.data_quality_report) == earlier_report(paths)


def test_runs_that_recorded_neither_get_the_same_report_and_checks(project: ProjectPaths, instance, tmp_path: Path):
    first = run_graph(instance, selection=DATA_STEPS)
    assert first.success
    paths = project.for_run(first.run_id)
    report = read_json(paths.data_quality_report)
    checks = {e.check_name: (e.passed, e.metadata) for e in first.get_asset_check_evaluations()}
    raw_profile_path(paths).unlink()  # as raw_youtube_stats and processed_channels wrote them before this change
    transformations_path(paths.processed_csv).unlink()

    again = run_graph(instance, selection="data_quality_report")
    assert again.success
    assert read_json(project.for_run(again.run_id).data_quality_report) == report == earlier_report(paths)

    defs = build_definitions()
    raw_checks = AssetSelection.checks_for_assets(AssetKey("raw_youtube_stats")).resolve_checks(defs.resolve_asset_graph())
    checks_only = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(),
                                                                         asset_check_selection=raw_checks)
    result = checks_only.execute_in_process(instance=instance, raise_on_error=False)
    assert result.success
    rechecked = {e.check_name: (e.passed, e.metadata) for e in result.get_asset_check_evaluations()}
    assert rechecked == {name: value for name, value in checks.items() if name in rechecked} and len(rechecked) == 3


def test_duplicate_channels_are_reported_from_the_recorded_profile(project: ProjectPaths, instance, monkeypatch,
                                                                   tmp_path: Path):
    from yts_assets.ml.demo import generate_demo_frame

    frame = generate_demo_frame()
    doubled = pd.concat([frame, frame.head(3).assign(Youtuber=frame.head(3)["Youtuber"].str.upper())])
    path = tmp_path / "doubled.csv"
    doubled.to_csv(path, index=False)
    monkeypatch.setenv("YTS_DATA_PATH", str(path))
    result = run_graph(instance, selection=AssetSelection.assets("raw_youtube_stats"))
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "no_duplicate_channels"]
    assert not evaluation.passed and evaluation.description == "3 duplicate rows over 3 channels"
    assert evaluation.metadata["duplicated_channels"].value == sorted(
        {*frame.head(3)["Youtuber"], *frame.head(3)["Youtuber"].str.upper()})


def test_duplicate_rows_is_duplicated_sum():
    from yts_assets.ml.reports import duplicate_rows

    rng = np.random.default_rng(4)
    payload_nan = np.frombuffer(np.uint64(0x7FF8000000000001).tobytes(), dtype=np.float64)[0]
    n = 5_000
    frame = pd.DataFrame({
        "x": rng.choice([0.0, -0.0, np.nan, payload_nan, 1.5, 2.0], n), "i": rng.integers(0, 3, n),
        "s": rng.choice(np.array(["a", "b", None, np.nan], dtype=object), n),
        "t": pd.array(rng.choice(np.array(["u", "v", None], dtype=object), n), dtype="string"),
        "b": rng.random(n) > 0.5,
    })
    assert duplicate_rows(frame) == int(frame.duplicated().sum()) > 0
    text_only = frame[["s", "t"]]
    assert duplicate_rows(text_only) == int(text_only.duplicated().sum())
    unique = pd.DataFrame({"x": np.arange(n, dtype=float), "s": "same"})
    assert duplicate_rows(unique) == 0 == int(unique.duplicated().sum())
    assert duplicate_rows(frame.head(1)) == 0 and duplicate_rows(frame.iloc[:, :0]) == int(frame.iloc[:, :0].duplicated().sum())


def test_readers_of_the_processed_table_load_its_recorded_parsed_form(project: ProjectPaths, instance, monkeypatch):
    """processed_channels records the parsed table beside its CSV; no step after it parses the CSV again."""
    parses = []
    parse = dataset.parse_processed
    monkeypatch.setattr(dataset, "parse_processed", lambda data: parses.append(len(data)) or parse(data))
    readers = ["feature_snapshot", "data_quality_report", "training_baseline", "channel_insights", "channel_maps"]
    result = run_graph(instance, selection=AssetSelection.assets("raw_youtube_stats", "processed_channels", *readers))
    assert result.success and parses == []
    paths = project.for_run(result.run_id)
    assert dataset.parsed_frame_path(paths.processed_csv).is_file()
    pd.testing.assert_frame_equal(read_processed(paths.processed_csv), parse(paths.processed_csv.read_bytes()),
                                  check_exact=True, check_column_type=True)
    assert read_json(paths.data_quality_report) == earlier_report(paths)
