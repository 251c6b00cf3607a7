"""Revenue by delivery country on a world map that needs no network.

The country outlines and centre points come from the ``countryinfo`` package (MIT; per
country GeoJSON at Natural Earth's coarse scale, ISO codes and a centre latitude/longitude),
installed with pgcdc, so the map draws from data in the page itself: no tile server, no CDN
topojson. Vega-Lite (bundled in Streamlit's front end) projects it. Revenue has one encoding,
colour, on one scale with one legend: countries with an outline are shaded; the countries
without one (small states and islands: San Marino, the Cayman Islands…) get a dot at their
centre in the same colour.
"""

from __future__ import annotations

import itertools
from functools import cache
from typing import Any

import altair as alt
from countryinfo import CountryInfo

_PRECISION = 1  # decimal places of a degree (~10 km): the outlines are coarse anyway


def _all() -> dict[str, dict[str, Any]]:
    return {name: dict(info) for name, info in CountryInfo.all().items()}


@cache
def _countries() -> dict[str, dict[str, Any]]:
    """countryinfo's records by lower-case name, alternative spellings and ISO codes."""
    records: dict[str, dict[str, Any]] = {}
    for name, info in _all().items():
        entry = {**info, "_key": name}
        keys = [name, *(s.lower() for s in entry.get("altSpellings", []))]
        keys += [str(v).lower() for v in (entry.get("ISO") or {}).values()]
        for key in keys:
            records.setdefault(key, entry)
    return records


def find_country(name: str) -> dict[str, Any] | None:
    """The record of a country named as in the source's ``address.country`` (None if unknown)."""
    return _countries().get(name.strip().lower())


def _ring(points: list[list[float]], *, exterior: bool) -> list[list[float]]:
    """A ring rounded, wound as d3-geo (Vega) wants: exterior clockwise, holes the other way.

    The data set follows GeoJSON's RFC 7946 (exterior counter-clockwise); d3 reads that as
    "everything but the country" and would paint the whole globe.
    """
    ring = [[round(x, _PRECISION), round(y, _PRECISION)] for x, y, *_ in points]
    area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))
    counter_clockwise = area > 0
    return ring[::-1] if counter_clockwise == exterior else ring


def _polygon(rings: list[list[list[float]]]) -> list[list[list[float]]]:
    return [_ring(r, exterior=i == 0) for i, r in enumerate(rings)]


def _geometry(geometry: dict[str, Any]) -> dict[str, Any]:
    """A Polygon or MultiPolygon, rounded and rewound for d3."""
    coordinates = geometry["coordinates"]
    if geometry["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": _polygon(coordinates)}
    return {"type": geometry["type"], "coordinates": [_polygon(p) for p in coordinates]}


@cache
def _outlines() -> tuple[tuple[str, dict[str, Any]], ...]:
    """(lower-case name, GeoJSON geometry) of every country that has an outline."""
    out = []
    for name, info in _all().items():
        for feature in (info.get("geoJSON") or {}).get("features", []):
            geometry = feature.get("geometry") or {}
            if geometry.get("type") in {"Polygon", "MultiPolygon"} and geometry["coordinates"]:
                out.append((name, _geometry(geometry)))
    return tuple(out)


def has_outline(name: str) -> bool:
    """Whether the country named as in ``address.country`` has an outline to shade."""
    key = (find_country(name) or {}).get("_key")
    return any(outline == key for outline, _ in _outlines())


def map_rows(by_country: dict[str, float]) -> tuple[list[dict[str, Any]], list[str]]:
    """Dot rows (country, lat, lon, revenue) for the countries found that have no outline to
    shade; the names not found."""
    rows, unknown = [], []
    for country, revenue in sorted(by_country.items()):
        info = find_country(country)
        if info is not None and has_outline(country):
            continue
        latlng = (info or {}).get("latlng") or []
        if len(latlng) == 2:
            lat, lon = latlng
            rows.append({"country": country, "lat": lat, "lon": lon, "revenue": revenue})
        else:
            unknown.append(country)
    return rows, unknown


def revenue_map(
    by_country: dict[str, float], currency: str
) -> tuple[alt.LayerChart | alt.FacetChart, list[str]]:
    """The map of ``currency`` revenue by delivery country; also the countries it cannot place."""
    shaded = {(find_country(c) or {}).get("_key"): (c, v) for c, v in by_country.items()}
    outlines = _outlines()
    world = [{"type": "Feature", "geometry": g, "properties": {}} for _, g in outlines]
    features = [
        {
            "type": "Feature",
            "geometry": g,
            "properties": dict(zip(("country", "revenue"), hit, strict=True)),
        }
        for name, g in outlines
        if (hit := shaded.get(name))
    ]
    circles, unknown = map_rows(by_country)
    title = f"revenue ({currency})"
    colour = alt.Scale(scheme="blues")
    legend = alt.Legend(
        orient="bottom", direction="horizontal", gradientLength=360, format="~s", titleLimit=0
    )
    base = alt.Chart({"values": world}).mark_geoshape(
        fill="#e4e4e4", stroke="white", strokeWidth=0.3
    )
    land = (
        alt.Chart({"values": features})
        .mark_geoshape(stroke="white", strokeWidth=0.3)
        .encode(
            color=alt.Color("properties.revenue:Q", title=title, scale=colour, legend=legend),
            tooltip=[
                alt.Tooltip("properties.country:N", title="country"),
                alt.Tooltip("properties.revenue:Q", title=title, format=",.2f"),
            ],
        )
    )
    dots = (
        alt.Chart({"values": circles})
        .mark_circle(size=70, opacity=1, stroke="#555", strokeWidth=0.8)
        .encode(
            longitude="lon:Q",
            latitude="lat:Q",
            color=alt.Color("revenue:Q", title=title, scale=colour, legend=legend),
            tooltip=[
                alt.Tooltip("country:N"),
                alt.Tooltip("revenue:Q", title=title, format=",.2f"),
            ],
        )
    )
    chart = alt.layer(base, land, dots).project(type="equalEarth").properties(height=420)
    return chart, unknown
