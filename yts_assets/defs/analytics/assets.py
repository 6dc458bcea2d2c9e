"""Analytics assets: the country, category and upload-bucket tables with the data samples, and the three world
maps. Computed once per run and published with it, so the API serves them from the active run's verified files
instead of re-reading CSVs per request."""

from dagster import AssetExecutionContext, DataVersion, MaterializeResult, MetadataValue, asset

from ...core.files import read_json, sha256_bytes, write_bytes
from ...lineage import input_paths, output_paths
from ...metadata import file_metadata, png_markdown
from ...ml.dataset import read_processed
from ...ml.insights import INSIGHT_COLUMNS, PROCESSED_SAMPLE_ROWS, RAW_SAMPLE_ROWS, insights_json
from ...ml.insights import channel_insights as build_insights
from ...ml.maps import MAPS
from ...ml.maps import channel_maps as build_maps
from ...resources import YtsSettings
from ..conditions import AFTER_UPSTREAM_PASSES

GROUP = "analytics"
# What ml/maps.py's channel_maps reads of the processed table (its country table comes from channel_insights).
MAP_COLUMNS = ("youtuber", "category", "country", "subscribers", "latitude", "longitude")


def table_markdown(rows: list[dict], columns: list[str], limit: int = 10) -> MetadataValue:
    def cell(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, (int, float)):
            return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows[:limit]]
    return MetadataValue.md("\n".join(lines))


@asset(
    group_name=GROUP,
    automation_condition=AFTER_UPSTREAM_PASSES,
    deps=["processed_channels"],
    kinds={"json", "pandas"},
    code_version="1",
    description=(
        "What the analytics endpoints serve, in reports/channel_insights.json: per country (channels, summed "
        "subscribers and yearly earnings, mean growth, dominant category by summed subscribers; rows without a "
        "country left out), per category (all of them; the API keeps top_n), growth by upload bucket (0-100, "
        f"101-500, 501-2k, 2k-10k, 10k+), the first {RAW_SAMPLE_ROWS} raw and {PROCESSED_SAMPLE_ROWS} processed "
        "rows. Means skip missing values; missing values are null."
    ),
)
def channel_insights(context: AssetExecutionContext, settings: YtsSettings) -> MaterializeResult:
    paths = output_paths(context, settings)
    processed_csv = input_paths(context, settings, "processed_channels").processed_csv
    insights = build_insights(read_processed(processed_csv, INSIGHT_COLUMNS))
    digest = write_bytes(paths.channel_insights, insights_json(insights))
    return MaterializeResult(
        metadata={
            **file_metadata(paths.channel_insights, digest),
            "dagster/row_count": MetadataValue.int(insights["channels"]),
            "countries": MetadataValue.int(len(insights["country_metrics"])),
            "categories": MetadataValue.int(len(insights["category_performance"])),
            "channels_without_country": MetadataValue.int(insights["channels_without_country"]),
            "raw_sample_rows": MetadataValue.int(len(insights["raw_sample"])),
            "processed_sample_rows": MetadataValue.int(len(insights["processed_sample"])),
            "country_metrics": table_markdown(insights["country_metrics"], [
                "country", "abbreviation", "channel_count", "total_subscribers", "total_earnings",
                "dominant_category"]),
            "category_performance": table_markdown(insights["category_performance"], [
                "category", "channel_count", "avg_subscribers", "avg_earnings", "avg_growth", "total_subscribers"]),
            "upload_growth_buckets": table_markdown(insights["upload_growth_buckets"], [
                "upload_bucket", "channel_count", "avg_growth", "avg_earnings", "avg_subscribers"]),
        },
        data_version=DataVersion(digest[:16]),
    )


@asset(
    group_name=GROUP,
    automation_condition=AFTER_UPSTREAM_PASSES,
    deps=["processed_channels", channel_insights],
    kinds={"plotly", "html"},
    code_version="1",
    description=(
        "Three plotly world maps as standalone HTML under maps/: influence_map.html (channels at their country, "
        "sized by subscribers, coloured by category), earnings_choropleth.html (total yearly earnings by country, "
        "log scale), category_dominance_map.html (dominant category by summed subscribers). They render offline: "
        "plotly.js and the 1:110m outlines load from assets/ beside the page, which the API serves. The country "
        "maps draw channel_insights' country table, the very rows the API serves."
    ),
)
def channel_maps(context: AssetExecutionContext, settings: YtsSettings) -> MaterializeResult:
    paths = output_paths(context, settings)
    processed = read_processed(input_paths(context, settings, "processed_channels").processed_csv, MAP_COLUMNS)
    countries = read_json(input_paths(context, settings, "channel_insights").channel_insights)["country_metrics"]
    maps = build_maps(processed, countries)
    targets = {"influence_map": paths.influence_map, "earnings_choropleth": paths.earnings_choropleth,
               "category_dominance_map": paths.category_dominance_map}
    metadata: dict[str, object] = {"path": MetadataValue.path(str(paths.maps_dir))}
    digests = []
    for name, built in maps.items():
        digest = write_bytes(targets[name], built.html.encode("utf-8"))
        digests.append(digest)
        metadata[name] = png_markdown(built.picture, MAPS[name]) if built.picture else MetadataValue.text("no picture")
        metadata[f"{name}_path"] = MetadataValue.path(str(targets[name]))
        metadata[f"{name}_sha256"] = MetadataValue.text(digest)
    metadata["dagster/row_count"] = MetadataValue.int(maps["influence_map"].shown)  # channels on the influence map
    metadata["countries_on_maps"] = MetadataValue.int(maps["earnings_choropleth"].shown)
    metadata["countries_as_markers"] = MetadataValue.md(
        "No 1:110m outline, drawn as a marker at their coordinates: "
        + (", ".join(maps["earnings_choropleth"].without_outline) or "none"))
    return MaterializeResult(metadata=metadata, data_version=DataVersion(sha256_bytes("".join(digests).encode())[:16]))
