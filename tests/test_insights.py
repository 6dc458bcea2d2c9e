"""Analytics and maps: computed by the channel_insights and channel_maps assets, published with the run, served
from the active run's verified bytes. Values are checked against an independent pandas recomputation."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import AssetSelection
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.config import ServingConfig
from tests.conftest import run_graph
from yts_assets.core.files import sha256_bytes, sha256_file
from yts_assets.core.paths import PROCESSED_CSV_NAME, ProjectPaths
from yts_assets.core.registry import load_registry, verified_manifest
from yts_assets.ml import insights, maps
from yts_assets.ml.dataset import load_raw, process, read_processed
from yts_assets.ml.iso3166 import alpha3

BUCKETS = ["0-100", "101-500", "501-2k", "2k-10k", "10k+"]
MAP_ROUTES = {"/maps/influence-map": "influence_map", "/maps/earnings-choropleth": "earnings_choropleth",
              "/maps/category-dominance": "category_dominance_map"}
INSIGHT_FILES = {"channel_insights": "channel_insights.json", "influence_map": "influence_map.html",
                 "earnings_choropleth": "earnings_choropleth.html", "category_dominance_map": "category_dominance_map.html"}
FIELDS = {
    "/maps/country-metrics": {"country": str, "abbreviation": str, "total_subscribers": int,
                              "total_earnings": float, "dominant_category": str, "channel_count": int},
    "/data/raw-sample": {"youtuber": str, "uploads": int, "category": str, "country": str, "subscribers": int,
                         "highest_yearly_earnings": float, "subscribers_for_last_30_days": int, "created_year": int},
    "/data/processed-sample": {"youtuber": str, "uploads": int, "category": str, "country": str, "age": int,
                               "subscribers": int, "highest_yearly_earnings": float, "growth_target": int},
    "/analytics/category-performance": {"category": str, "channel_count": int, "avg_subscribers": float,
                                        "avg_earnings": float, "avg_growth": float, "total_subscribers": int,
                                        "total_earnings": float},
    "/analytics/upload-growth-buckets": {"upload_bucket": str, "channel_count": int, "avg_growth": float,
                                         "avg_earnings": float, "avg_subscribers": float},
}


# --- an independent recomputation (pandas, written from the contract, not from yts_assets/ml/insights.py) --------

def mean_or_none(values: pd.Series) -> float | None:
    known = values.dropna()
    return float(known.mean()) if len(known) else None


def expected_countries(frame: pd.DataFrame) -> list[dict]:
    rows = []
    for country, group in frame.dropna(subset=["country"]).groupby("country"):
        totals = group.dropna(subset=["category"]).groupby("category")["subscribers"].sum()
        dominant = min(totals.items(), key=lambda kv: (-kv[1], kv[0]))[0] if len(totals) else None
        rows.append({"country": country, "abbreviation": group["abbreviation"].dropna().iloc[0],
                     "total_subscribers": group["subscribers"].sum(), "total_earnings": group["highest_yearly_earnings"].sum(),
                     "dominant_category": dominant, "channel_count": len(group), "avg_growth": mean_or_none(group["growth_target"])})
    return sorted(rows, key=lambda r: (-r["total_subscribers"], r["country"]))


def expected_categories(frame: pd.DataFrame) -> list[dict]:
    rows = [{"category": category, "channel_count": len(group), "avg_subscribers": mean_or_none(group["subscribers"]),
             "avg_earnings": mean_or_none(group["highest_yearly_earnings"]), "avg_growth": mean_or_none(group["growth_target"]),
             "total_subscribers": group["subscribers"].sum(), "total_earnings": group["highest_yearly_earnings"].sum()}
            for category, group in frame.dropna(subset=["category"]).groupby("category")]
    return sorted(rows, key=lambda r: (-r["total_subscribers"], r["category"]))


def expected_buckets(frame: pd.DataFrame) -> list[dict]:
    uploads = frame["uploads"]
    masks = [(uploads >= 0) & (uploads <= 100), (uploads > 100) & (uploads <= 500), (uploads > 500) & (uploads <= 2000),
             (uploads > 2000) & (uploads <= 10000), uploads > 10000]
    return [{"upload_bucket": label, "channel_count": int(mask.sum()), "avg_growth": mean_or_none(frame.loc[mask, "growth_target"]),
             "avg_earnings": mean_or_none(frame.loc[mask, "highest_yearly_earnings"]),
             "avg_subscribers": mean_or_none(frame.loc[mask, "subscribers"])} for label, mask in zip(BUCKETS, masks)]


def plain(value: object) -> object:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA else value


def assert_records_equal(actual: list[dict], expected: list[dict]) -> None:
    """Same length and order; for every expected field the same value (numbers to 1e-9 relative)."""
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        for field, value in want.items():
            value = plain(value)
            if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                assert got[field] == pytest.approx(float(value), rel=1e-9), (want, field)
            else:
                assert got[field] == value, (want, field)


def assert_typed(record: dict, fields: dict[str, type]) -> None:
    """Every contract field is present, and null or of its JSON type (an integer is a number too)."""
    for field, kind in fields.items():
        assert field in record, field
        value = record[field]
        allowed = (int, float) if kind is float else (kind,)
        assert value is None or (isinstance(value, allowed) and not isinstance(value, bool)), (field, value)


@pytest.fixture(scope="module")
def real_processed(real_csv: Path) -> pd.DataFrame:
    return process(load_raw(real_csv).frame).frame


@pytest.fixture(scope="module")
def real_insights(real_processed: pd.DataFrame) -> dict:
    return json.loads(insights.insights_json(insights.channel_insights(real_processed)))


# --- the tables, on the real data ----------------------------------------------------------------------------

def test_tables_equal_a_pandas_recomputation_on_the_real_data(real_processed, real_insights):
    assert_records_equal(real_insights["country_metrics"], expected_countries(real_processed))
    assert_records_equal(real_insights["category_performance"], expected_categories(real_processed))
    assert_records_equal(real_insights["upload_growth_buckets"], expected_buckets(real_processed))
    countries = real_insights["country_metrics"]
    assert len(countries) == 49 and countries[0]["country"] == "United States" and countries[1]["country"] == "India"
    assert sum(c["channel_count"] for c in countries) == 995 - 122  # the 122 channels without a country are left out
    assert real_insights["channels_without_country"] == 122
    assert [b["upload_bucket"] for b in real_insights["upload_growth_buckets"]] == BUCKETS
    assert sum(b["channel_count"] for b in real_insights["upload_growth_buckets"]) == 995
    assert len(real_insights["category_performance"]) == 18  # 46 channels without a category are left out


def test_samples_are_the_files_first_rows_with_nulls(real_csv, real_insights):
    raw = pd.read_csv(real_csv, encoding="latin-1")
    raw = raw.apply(lambda c: c.str.strip().replace({"nan": None}) if c.dtype == object else c)
    columns = {"youtuber": "Youtuber", "uploads": "uploads", "category": "category", "country": "Country",
               "subscribers": "subscribers", "highest_yearly_earnings": "highest_yearly_earnings",
               "subscribers_for_last_30_days": "subscribers_for_last_30_days", "created_year": "created_year"}
    expected = [{ours: row[theirs] for ours, theirs in columns.items()} for _, row in raw.head(200).iterrows()]
    sample = real_insights["raw_sample"]
    assert len(sample) == 200 and all(set(r) == set(columns) for r in sample)
    assert_records_equal(sample, expected)
    assert any(r["subscribers_for_last_30_days"] is None for r in sample) and any(r["country"] is None for r in sample)
    assert sample[0]["youtuber"] == "T-Series" and sample[0]["uploads"] == 20082 and isinstance(sample[0]["uploads"], int)
    processed = real_insights["processed_sample"]
    assert len(processed) == 995 and processed[0]["age"] == 17
    assert [r["youtuber"] for r in processed[:200]] == [r["youtuber"] for r in sample]
    assert any(r["age"] is None for r in processed) and any(r["growth_target"] is None for r in processed)


def test_missing_values_are_null_and_empty_groups_have_no_mean():
    frame = pd.DataFrame({
        "youtuber": pd.array(["a", "b", "c", "d", "e", "f"], dtype="string"),
        "uploads": [0.0, 100.0, 101.0, 10_000.0, np.nan, -5.0],
        "category": pd.array(["Music", "Music", None, "Gaming", "Gaming", "Music"], dtype="string"),
        "country": pd.array(["X", "X", "Y", None, "Y", "Z"], dtype="string"),
        "abbreviation": pd.array(["XX", "XX", "YY", None, "YY", "ZZ"], dtype="string"),
        "subscribers": [10.0, 20.0, 5.0, 7.0, 5.0, 1.0],
        "highest_yearly_earnings": [1.0, np.inf, 2.0, 3.0, np.nan, 4.0],
        "subscribers_for_last_30_days": [np.nan] * 6, "growth_target": [np.nan] * 6,
        "created_year": [2010.0, np.nan, 2011.0, 2012.0, 2013.0, 2014.0], "age": [13.0, np.nan, 12.0, 11.0, 10.0, 9.0],
        "latitude": [1.0, 1.0, 2.0, np.nan, 2.0, 3.0], "longitude": [1.0, 1.0, 2.0, np.nan, 2.0, 3.0],
    })
    tables = json.loads(insights.insights_json(insights.channel_insights(frame)))  # allow_nan=False: no NaN/inf
    by_country = {c["country"]: c for c in tables["country_metrics"]}
    assert set(by_country) == {"X", "Y", "Z"}  # the channel without a country is left out
    assert by_country["X"]["avg_growth"] is None  # a mean of nothing
    assert by_country["X"]["total_earnings"] is None  # inf is not a number JSON can carry
    assert by_country["Y"]["dominant_category"] == "Gaming" and by_country["Y"]["total_earnings"] == 2.0
    assert [c["country"] for c in tables["country_metrics"]] == ["X", "Y", "Z"]
    buckets = {b["upload_bucket"]: b for b in tables["upload_growth_buckets"]}
    assert list(buckets) == BUCKETS
    assert buckets["0-100"]["channel_count"] == 2 and buckets["101-500"]["channel_count"] == 1
    assert buckets["2k-10k"]["channel_count"] == 1 and buckets["10k+"] == {
        "upload_bucket": "10k+", "channel_count": 0, "avg_growth": None, "avg_earnings": None, "avg_subscribers": None}
    assert sum(b["channel_count"] for b in buckets.values()) == 4  # missing and negative uploads are in no bucket
    assert tables["raw_sample"][4]["uploads"] is None and tables["raw_sample"][2]["category"] is None
    assert tables["processed_sample"][1]["age"] is None


def test_upload_buckets_have_inclusive_upper_bounds():
    uploads = pd.Series([0, 100, 101, 500, 501, 2000, 2001, 10000, 10001, 301308], dtype=float)
    assert insights.upload_bucket(uploads).astype(str).tolist() == [
        "0-100", "0-100", "101-500", "101-500", "501-2k", "501-2k", "2k-10k", "2k-10k", "10k+", "10k+"]


# --- the maps -------------------------------------------------------------------------------------------------

def figure_of(page: str) -> dict:
    data, layout = re.search(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{"topojsonURL', page, re.S).groups()
    return {"data": json.loads(data), "layout": json.loads(layout)}


def assert_offline(page: str) -> None:
    """No script, stylesheet or outline fetched from anywhere but beside the page."""
    assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"<link[^>]+href=[\"']?(https?:)?//", page, re.I)
    assert '<script charset="utf-8" src="assets/plotly.min.js"></script>' in page
    assert '"topojsonURL": "assets/topojson/"' in page
    assert "cdn.plot.ly" not in page and "cdn." not in page


def test_outlines_decode_to_the_countries_plotly_draws():
    outlines = maps.world_outlines()
    assert len(outlines) == 177 and len(maps.outlined_countries()) == 174
    topology = json.loads(maps.WORLD_TOPOJSON.read_text())
    centroids = {g["id"]: g["properties"]["ct"] for g in topology["objects"]["countries"]["geometries"] if "id" in g}
    for outline in outlines:
        for ring in outline.rings:
            assert np.allclose(ring[0], ring[-1])  # rings close
            assert (np.abs(ring[:, 0]) <= 180.0001).all() and (np.abs(ring[:, 1]) <= 90.0001).all()
        if outline.iso3 in {"USA", "FRA", "IND", "BRA", "AUS", "CHN"}:  # the topojson's own centroid is inside the box
            largest = max(outline.rings, key=len)
            lon, lat = centroids[outline.iso3]
            assert largest[:, 0].min() <= lon <= largest[:, 0].max() and largest[:, 1].min() <= lat <= largest[:, 1].max()
    dataset = {alpha3(a) for a in ["US", "IN", "BR", "GB", "MX", "SG", "BB", "WS", "AD"]}
    assert dataset - maps.outlined_countries() == {"SGP", "BRB", "WSM", "AND"}  # drawn as markers instead


def test_maps_render_offline_hold_the_data_and_validate_as_plotly(real_processed, real_insights):
    import plotly.graph_objects as go

    built = maps.channel_maps(real_processed, real_insights["country_metrics"], pictures=False)
    assert set(built) == {"influence_map", "earnings_choropleth", "category_dominance_map"}
    for name, one in built.items():
        assert_offline(one.html)
        assert one.html.startswith("<!doctype html>") and f"<title>{maps.MAPS[name].replace('&', '&amp;')}" in one.html
        figure = figure_of(one.html)
        go.Figure(figure)  # plotly's own validation: every property exists
        assert "India" in one.html and "United States" in one.html
    influence = figure_of(built["influence_map"].html)
    assert sum(len(t["lat"]) for t in influence["data"]) == built["influence_map"].shown == 995 - 123
    assert "T-Series" in built["influence_map"].html and {t["name"] for t in influence["data"]} >= {"Music", "Gaming"}
    choropleth = figure_of(built["earnings_choropleth"].html)["data"]
    assert choropleth[0]["type"] == "choropleth" and choropleth[0]["locationmode"] == "ISO-3" and "USA" in choropleth[0]["locations"]
    assert set(choropleth[1]["text"]) == {"Singapore", "Barbados", "Samoa"}  # no outline: markers (Andorra has no coordinates)
    us = choropleth[0]["customdata"][choropleth[0]["locations"].index("USA")]
    assert us == pytest.approx(real_insights["country_metrics"][0]["total_earnings"])
    dominance = figure_of(built["category_dominance_map"].html)["data"]
    music = next(t for t in dominance if t["name"] == "Music" and t["type"] == "choropleth")
    assert {"USA", "IND", "BRA"} <= set(music["locations"])


def test_channel_names_cannot_break_out_of_the_map_script(real_processed):
    frame = real_processed.head(20).copy()
    frame["youtuber"] = pd.array(["</script><script>alert(1)</script>"] * 20, dtype="string")
    page = maps.channel_maps(frame, insights.country_metrics(frame), pictures=False)["influence_map"].html
    assert "<script>alert(1)" not in page and "\\u003c\\u002fscript\\u003e" in page


def test_insights_and_maps_need_only_the_columns_their_assets_load(real_processed, real_insights):
    from yts_assets.defs.analytics.assets import MAP_COLUMNS

    some = real_processed.loc[:, list(insights.INSIGHT_COLUMNS)]
    assert insights.insights_json(insights.channel_insights(some)) == insights.insights_json(
        insights.channel_insights(real_processed))
    # channel_maps draws channel_insights' published country table: the same pages as from a recomputation
    from_table = maps.channel_maps(real_processed.loc[:, list(MAP_COLUMNS)], real_insights["country_metrics"],
                                   pictures=False)
    recomputed = maps.channel_maps(real_processed, insights.country_metrics(real_processed), pictures=False)
    assert {name: m.html for name, m in from_table.items()} == {name: m.html for name, m in recomputed.items()}


@pytest.mark.slow
def test_the_country_table_is_computed_once_per_run(project, instance, monkeypatch):
    calls = []
    computed = insights.country_metrics
    monkeypatch.setattr(insights, "country_metrics", lambda frame: calls.append(len(frame)) or computed(frame))
    selection = AssetSelection.assets("raw_youtube_stats", "processed_channels", "channel_insights", "channel_maps")
    result = run_graph(instance, selection)
    assert result.success and calls == [995]  # by channel_insights; channel_maps reads its table


# --- the assets, in a real Dagster run --------------------------------------------------------------------------

@pytest.mark.slow  # test_graph's whole-graph run checks the pictures in the fast loop
def test_assets_write_into_the_run_and_show_their_pictures(project, instance):
    selection = AssetSelection.assets("raw_youtube_stats", "processed_channels", "channel_insights", "channel_maps")
    result = run_graph(instance, selection)
    assert result.success
    paths = project.for_run(result.run_id)
    meta = {name: result.asset_materializations_for_node(name)[0].metadata for name in ("channel_insights", "channel_maps")}
    assert meta["channel_insights"]["sha256"].value == sha256_file(paths.channel_insights)
    assert meta["channel_insights"]["dagster/row_count"].value == 995
    assert "| country |" in meta["channel_insights"]["country_metrics"].value
    for name in ("influence_map", "earnings_choropleth", "category_dominance_map"):
        path = getattr(paths, name)
        assert path.parent == paths.maps_dir and meta["channel_maps"][f"{name}_sha256"].value == sha256_file(path)
        assert "data:image/png;base64," in meta["channel_maps"][name].value
    tables = json.loads(paths.channel_insights.read_text())
    assert_records_equal(tables["country_metrics"], expected_countries(read_processed(paths.processed_csv)))


# --- served from the active run ---------------------------------------------------------------------------------

def config_for(paths: ProjectPaths) -> ServingConfig:
    return ServingConfig(paths=paths, capture_enabled=False, registry_poll_seconds=0.05)


@pytest.fixture(scope="module")
def served(trained, tmp_path_factory):
    """A private copy of the session's trained project (two runs, B active), served by one app for the module."""
    root = tmp_path_factory.mktemp("insights") / "project"
    shutil.copytree(trained["root"], root)
    paths = ProjectPaths(root=root, artifact_dir=root / "artifacts")
    with TestClient(create_app(config_for(paths))) as client:
        yield {"client": client, "paths": paths, "run": trained["b"], "other": trained["a"]}


def published_processed(served) -> pd.DataFrame:
    return read_processed(served["paths"].published_runs_dir / served["run"] / PROCESSED_CSV_NAME)


@pytest.mark.parametrize("path", list(FIELDS))
def test_every_record_has_the_contract_fields_and_types(served, path):
    body = served["client"].get(path).json()
    assert body["run_id"] == served["run"] and body["records"]
    for record in body["records"]:
        assert_typed(record, FIELDS[path])


def test_answers_equal_a_recomputation_from_the_runs_processed_table(served):
    client, frame = served["client"], published_processed(served)
    countries = client.get("/maps/country-metrics").json()["records"]
    assert_records_equal(countries, expected_countries(frame))
    totals = [c["total_subscribers"] for c in countries]
    assert totals == sorted(totals, reverse=True)
    categories = client.get("/analytics/category-performance", params={"top_n": 30}).json()["records"]
    assert_records_equal(categories, expected_categories(frame))
    assert client.get("/analytics/category-performance").json()["records"] == categories[:12]  # default top_n 12
    assert client.get("/analytics/category-performance", params={"top_n": 3}).json()["records"] == categories[:3]
    buckets = client.get("/analytics/upload-growth-buckets").json()["records"]
    assert [b["upload_bucket"] for b in buckets] == BUCKETS
    assert_records_equal(buckets, expected_buckets(frame))
    raw = client.get("/data/raw-sample", params={"limit": 200}).json()["records"]
    assert [r["youtuber"] for r in raw] == frame["youtuber"].head(200).tolist()
    assert len(client.get("/data/raw-sample").json()["records"]) == 10
    processed = client.get("/data/processed-sample", params={"limit": 1000}).json()["records"]
    assert len(processed) == min(1000, len(frame))
    assert [plain(v) for v in frame["age"].head(len(processed))] == [r["age"] for r in processed]


@pytest.mark.parametrize(("path", "field"), [
    ("/data/raw-sample?limit=0", "limit"), ("/data/raw-sample?limit=201", "limit"),
    ("/data/processed-sample?limit=0", "limit"), ("/data/processed-sample?limit=1001", "limit"),
    ("/analytics/category-performance?top_n=2", "top_n"), ("/analytics/category-performance?top_n=31", "top_n"),
    ("/data/raw-sample?limit=ten", "limit"),
])
def test_bounds_give_422_naming_the_field(served, path, field):
    response = served["client"].get(path)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", field]


def test_maps_are_served_offline_with_their_assets(served):
    client, run = served["client"], served["run"]
    manifest, _ = verified_manifest(served["paths"], run)
    for route, name in MAP_ROUTES.items():
        response = client.get(route)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert response.headers["x-yts-run-id"] == run and "connect-src 'self'" in response.headers["content-security-policy"]
        assert sha256_bytes(response.content) == manifest["artifacts"][name]["sha256"]
        assert_offline(response.text)
        assert client.get(route, headers={"If-None-Match": response.headers["etag"]}).status_code == 304
        # the relative asset URLs, resolved against the page's URL as a browser does
        for asset in ("assets/plotly.min.js", "assets/topojson/world_110m.json"):
            assert client.get(route.rsplit("/", 1)[0] + "/" + asset).status_code == 200
    script = client.get("/maps/assets/plotly.min.js", headers={"Accept-Encoding": "identity"})
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert script.content.startswith(b"/**\n* plotly.js v") and "max-age=" in script.headers["cache-control"]
    assert script.content == maps.plotly_js_file().read_bytes()
    zipped = client.get("/maps/assets/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.content == script.content  # httpx inflates it
    assert client.get("/maps/assets/plotly.min.js", headers={"If-None-Match": script.headers["etag"],
                                                             "Accept-Encoding": "identity"}).status_code == 304
    outlines = client.get("/maps/assets/topojson/world_110m.json")
    assert outlines.headers["content-type"] == "application/json" and "countries" in outlines.json()["objects"]
    assert outlines.content == maps.WORLD_TOPOJSON.read_bytes()
    for other in ("/maps/assets/plotly.js", "/maps/assets/topojson/world_50m.json", "/maps/assets/../app.py",
                  "/maps/assets/topojson/..%2F..%2Fworld_110m.json"):
        assert client.get(other).status_code == 404, other


def test_openapi_documents_the_fields_and_the_html(served):
    schema = served["client"].get("/openapi.json").json()
    components = schema["components"]["schemas"]
    for path, fields in FIELDS.items():
        ref = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        body = components[ref.rsplit("/", 1)[1]]
        assert {"run_id", "records"} <= set(body["properties"])
        record = components[body["properties"]["records"]["items"]["$ref"].rsplit("/", 1)[1]]
        assert set(fields) <= set(record["properties"]), path
        assert "404" in schema["paths"][path]["get"]["responses"]
    for route in MAP_ROUTES:
        assert "text/html" in schema["paths"][route]["get"]["responses"]["200"]["content"]
    assert "/maps/assets/plotly.min.js" not in schema["paths"]


def test_no_request_reads_a_csv(served, monkeypatch):
    """Answers come from what the run loaded: the processed CSVs can go and pandas can stop reading CSVs."""
    client, paths = served["client"], served["paths"]
    routes = [*FIELDS, *MAP_ROUTES, "/data/raw-sample?limit=200", "/data/processed-sample?limit=1000"]
    before = {route: client.get(route).content for route in routes}
    for csv in [paths.canonical.processed_csv, *paths.artifact_dir.glob("candidates/*/data/*.csv")]:
        csv.unlink()

    def no_csv(*args, **kwargs):
        raise AssertionError("a request read a CSV")

    monkeypatch.setattr(pd, "read_csv", no_csv)
    assert {route: client.get(route).content for route in routes} == before


def test_the_canonical_copies_are_the_active_runs(served):
    paths, run = served["paths"], served["run"]
    folder = paths.published_runs_dir / run
    canonical = paths.canonical
    for name, path in (("channel_insights", canonical.channel_insights), ("influence_map", canonical.influence_map),
                       ("earnings_choropleth", canonical.earnings_choropleth),
                       ("category_dominance_map", canonical.category_dominance_map)):
        assert path.read_bytes() == (folder / INSIGHT_FILES[name]).read_bytes(), name
    assert canonical.influence_map == paths.artifact_dir / "maps" / "influence_map.html"


def without_insights(paths: ProjectPaths, run_id: str) -> None:
    """Make `run_id` look published before this change: its manifest (re-anchored in the registry) lists no
    analytics or maps, and their files are gone."""
    folder = paths.published_runs_dir / run_id
    manifest_path = folder / "training_manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for name, file in INSIGHT_FILES.items():
        manifest["artifacts"].pop(name)
        (folder / file).unlink()
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    manifest_path.chmod(0o644)
    manifest_path.write_bytes(data)
    registry = load_registry(paths)
    next(r for r in registry["runs"] if r["run_id"] == run_id)["manifest_sha256"] = hashlib.sha256(data).hexdigest()
    registry["active_run_id"] = run_id
    paths.model_registry.write_text(json.dumps(registry))


def test_a_run_published_without_insights_still_predicts_and_says_to_retrain(trained, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(trained["root"], root)
    paths = ProjectPaths(root=root, artifact_dir=root / "artifacts")
    without_insights(paths, trained["a"])
    with TestClient(create_app(config_for(paths))) as client:
        assert client.get("/ready").status_code == 200
        predicted = client.post("/predict", json={"uploads": 1200, "category": "Music", "country": "India", "age": 9})
        assert predicted.status_code == 200 and predicted.json()["run_id"] == trained["a"]
        for route in [*FIELDS, *MAP_ROUTES]:
            response = client.get(route)
            assert response.status_code == 404, route
            detail = response.json()["detail"]
            assert trained["a"] in detail and "yts-run" in detail and "retrain" in detail
        assert client.get("/maps/assets/plotly.min.js").status_code == 200  # the assets do not depend on the run


def test_no_active_run_gives_503(tmp_path):
    empty = ProjectPaths(root=tmp_path, artifact_dir=tmp_path / "artifacts")
    with TestClient(create_app(config_for(empty))) as client:
        for route in [*FIELDS, *MAP_ROUTES]:
            assert client.get(route).status_code == 503, route


@pytest.mark.slow
def test_real_data_end_to_end(project, use_real_data, instance):
    """yts-run's graph on the real CSV, then the API: every table equals the recomputation from the CSV."""
    assert run_graph(instance).success
    frame = process(load_raw(use_real_data).frame).frame
    with TestClient(create_app(config_for(project))) as client:
        assert_records_equal(client.get("/maps/country-metrics").json()["records"], expected_countries(frame))
        assert_records_equal(client.get("/analytics/category-performance?top_n=30").json()["records"],
                             expected_categories(frame))
        assert_records_equal(client.get("/analytics/upload-growth-buckets").json()["records"], expected_buckets(frame))
        for route in MAP_ROUTES:
            page = client.get(route).text
            assert_offline(page)
            assert "United States" in page
