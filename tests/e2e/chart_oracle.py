"""Every chart and table of the dashboard, computed from the SOURCE database and compared with
what the page draws (read by page_charts), both ways: nothing missing, nothing extra, every
value to the cent.

The queries follow reference/totesys.md, not the dashboard's or the transformer's SQL:
revenue is units_sold × unit_price of the orders as they are now, per currency, never summed
across currencies; payments outstanding are the payments not paid. A bar chart headed
"Top 10 …" keeps the ten largest (ties by name), and says under it how many it left out.

How the page draws is checked as well: the month axis is a time axis (a missing month leaves
a gap), every bar has its label shown, the map encodes revenue once (colour, one legend that
fits on the page), and the last-runs table shows bounds as LSNs (``X/Y``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pgcdc.readside.dashboard import worldmap
from tests.e2e.page_charts import Chart, bars, keyed, map_layers, month_line

Query = Callable[..., list[tuple[Any, ...]]]

TOP = 10
HALF_CENT = Decimal("0.005")
BY_MONTH = """
    SELECT to_char(so.created_at, 'YYYY-MM'), c.currency_code, sum(so.units_sold * so.unit_price)
    FROM sales_order so JOIN currency c USING (currency_id) GROUP BY 1, 2"""
BY_COUNTRY = """
    SELECT a.country, count(*), sum(so.units_sold * so.unit_price) FROM sales_order so
    JOIN address a ON a.address_id = so.agreed_delivery_location_id
    JOIN currency c USING (currency_id) WHERE c.currency_code = %s GROUP BY 1"""
UNPAID = """
    SELECT c.currency_code, count(*), sum(p.payment_amount) FROM payment p
    JOIN currency c USING (currency_id) WHERE NOT p.paid GROUP BY 1"""
_BY_LABEL = """
    SELECT {label}, sum(so.units_sold * so.unit_price) FROM sales_order so
    JOIN currency c USING (currency_id) {joins} WHERE c.currency_code = %s GROUP BY 1"""
BARS = {  # chart heading before " (currency)" → (query, how many bars it keeps)
    f"Top {TOP} designs": (
        _BY_LABEL.format(label="g.design_name", joins="JOIN design g USING (design_id)"),
        TOP,
    ),
    f"Top {TOP} counterparties": (
        _BY_LABEL.format(
            label="p.counterparty_legal_name", joins="JOIN counterparty p USING (counterparty_id)"
        ),
        TOP,
    ),
    "Revenue by department": (
        _BY_LABEL.format(
            label="d.department_name",
            joins="JOIN staff s USING (staff_id) JOIN department d USING (department_id)",
        ),
        None,
    ),
    f"Top {TOP} staff members": (
        _BY_LABEL.format(
            label="s.first_name || ' ' || s.last_name", joins="JOIN staff s USING (staff_id)"
        ),
        TOP,
    ),
}
MONTH_CHART = "Revenue by month and currency"


@dataclass(frozen=True)
class SourceFigures:
    """What each chart and table must show for ``currency`` (the one the page selected)."""

    currency: str
    by_month: dict[tuple[str, str], Decimal]
    by_country: dict[str, tuple[int, Decimal]]
    bars: dict[str, dict[str, Decimal]]
    unpaid: dict[str, tuple[int, Decimal]]
    ranked: dict[str, int] = field(default_factory=dict)
    """Bar chart heading → how many labels the source ranks (before keeping the top)."""

    def map_heading(self) -> str:
        return f"Revenue by delivery country ({self.currency})"

    def probe(self) -> list[float]:
        """The revenues whose colour on the map's scale the page is asked for."""
        return [float(rev) for _, rev in self.by_country.values()]


def source_figures(source: Query, currency: str) -> SourceFigures:
    """Every figure the page shows for ``currency``, computed from the source database."""
    bar_figures: dict[str, dict[str, Decimal]] = {}
    counts: dict[str, int] = {}
    for heading, (text, keep) in BARS.items():
        ranked = sorted(source(text, (currency,)), key=lambda r: (-r[1], r[0]))
        bar_figures[f"{heading} ({currency})"] = dict(ranked[:keep])
        counts[f"{heading} ({currency})"] = len(ranked)
    return SourceFigures(
        currency=currency,
        by_month={(m, c): rev for m, c, rev in source(BY_MONTH)},
        by_country={k: (n, rev) for k, n, rev in source(BY_COUNTRY, (currency,))},
        bars=bar_figures,
        unpaid={c: (n, amount) for c, n, amount in source(UNPAID)},
        ranked=counts,
    )


def chart_differences(charts: list[Chart], want: SourceFigures) -> list[str]:
    """Every way the charts on the page differ from the source; empty when they agree."""
    headings = [c.heading for c in charts]
    expected = [MONTH_CHART, want.map_heading(), *want.bars]
    out = [] if sorted(headings) == sorted(expected) else [f"charts {headings}, not {expected}"]
    for chart in charts:
        if chart.heading == MONTH_CHART:
            out += _month_differences(chart, want)
        elif chart.heading == want.map_heading():
            out += _map_differences(chart, want)
        elif chart.heading in want.bars:
            out += _titled(chart, f"revenue ({want.currency})")
            out += differences(chart.heading, bars(chart), want.bars[chart.heading])
            out += _unlabelled_bars(chart, want.bars[chart.heading])
    return out


def _unlabelled_bars(chart: Chart, want: dict[str, Decimal]) -> list[str]:
    """Every bar's label is drawn and not pruned as overlapping (the untitled label axis)."""
    axis = chart.axis(None)
    if axis is None:
        return [f"{chart.heading}: no label axis"]
    shown = {label["text"] for label in axis["labels"] if label["shown"]}
    return [f"{chart.heading}: bar {k!r} has no label shown" for k in sorted(want.keys() - shown)]


def caption_differences(body: str, want: SourceFigures) -> list[str]:
    """A top-N chart that leaves labels out says how many of how many it shows."""
    out = []
    for heading, figures in want.bars.items():
        total = want.ranked[heading]
        line = f"The {len(figures)} largest of {total} by revenue in {want.currency}."
        if total > len(figures) and line not in body:
            out.append(f"{heading}: no caption {line!r}")
    return out


def runs_differences(tables: list[dict[str, Any]], bounds: dict[str, str]) -> list[str]:
    """The last-runs table: batch → bound, as LSNs (``X/Y``), as the manifests record them."""
    table = [t for t in tables if t["head"][-3:] == ["batch", "bound", "loaded at (UTC)"]]
    if len(table) != 1:
        return [f"last runs: {len(table)} tables"]
    seen = keyed("last runs", [(r[-3], r[-2]) for r in table[0]["rows"]])
    out = [f"last runs: bound {b!r} is not an LSN" for b in seen.values() if not _LSN.match(b)]
    return out + differences("last runs", seen, bounds)


_LSN = re.compile(r"^[0-9A-F]+/[0-9A-F]+$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")


def _month_differences(chart: Chart, want: SourceFigures) -> list[str]:
    out = _titled(chart, "month", "revenue", "currency")
    if chart.scales.get("x") not in ("time", "utc"):
        out.append(f"{MONTH_CHART}: month axis is {chart.scales.get('x')}, not a time axis")
    axis = chart.axis("month")
    labels = [a["text"] for a in axis["labels"] if a["shown"]] if axis else []
    if not labels or labels != sorted(set(labels)) or not all(_MONTH.match(t) for t in labels):
        out.append(f"{MONTH_CHART}: month labels {labels} are not increasing YYYY-MM months")
    lines = month_line(chart)
    if len(lines) != 2:
        out.append(f"{MONTH_CHART}: marks {list(chart.marks)}, not a line and its points")
    for seen in lines:
        out += differences(MONTH_CHART, seen, want.by_month)
    return out


def _map_differences(chart: Chart, want: SourceFigures) -> list[str]:
    """Revenue is encoded once, in colour: every country with an outline is shaded, every
    other placeable one has a dot, each in the colour the page's scale gives its revenue;
    no size scale; one colour legend, inside the part of the chart the page shows."""
    shaded, dots = map_layers(chart)
    revenue = {country: rev for country, (_n, rev) in want.by_country.items()}
    colour = {c: chart.color_of.get(float(r), "no colour") for c, r in revenue.items()}
    outlined = {c: v for c, v in colour.items() if worldmap.has_outline(c)}
    dotted = {c: v for c, v in colour.items() if worldmap.find_country(c) and c not in outlined}
    out = _titled(chart, f"revenue ({want.currency})")
    out += differences(f"{chart.heading} dots", dots, dotted)
    out += differences(f"{chart.heading} shading", shaded, outlined)
    if chart.scales.get("size") is not None:
        out.append(f"{chart.heading}: revenue also encoded as size")
    return out + _legend_differences(chart, f"revenue ({want.currency})")


def _legend_differences(chart: Chart, title: str) -> list[str]:
    """One gradient legend titled ``title``, its labels shown, wholly inside the shown box."""
    legends = chart.legends()
    if len(legends) != 1 or legends[0]["title"] != title or not legends[0]["gradient"]:
        got = [(g["title"], g["gradient"]) for g in legends]
        return [f"{chart.heading}: legends {got}, not one colour gradient titled {title!r}"]
    box, area = legends[0]["bounds"], chart.shown
    out = []
    if not all(label["shown"] for label in legends[0]["labels"]) or not legends[0]["labels"]:
        out.append(f"{chart.heading}: legend labels {legends[0]['labels']} not all shown")
    inside = (
        box["x1"] >= area["x1"] - 0.5
        and box["y1"] >= area["y1"] - 0.5
        and box["x2"] <= area["x2"] + 0.5
        and box["y2"] <= area["y2"] + 0.5
    )
    if not inside:
        out.append(f"{chart.heading}: legend {box} cut by the chart's box {area}")
    return out


def _titled(chart: Chart, *titles: str) -> list[str]:
    return [
        f"{chart.heading}: no axis or legend titled {t!r}" for t in titles if t not in chart.titles
    ]


def differences(what: str, seen: dict[Any, Any], want: dict[Any, Any]) -> list[str]:
    """Keys missing from the page, keys the source does not have, values that differ
    (numbers by more than half a cent)."""
    out = [f"{what}: {k} missing" for k in sorted(want.keys() - seen.keys(), key=str)]
    out += [f"{what}: {k} not in the source" for k in sorted(seen.keys() - want.keys(), key=str)]
    for key in sorted(want.keys() & seen.keys(), key=str):
        if not _same(seen[key], want[key]):
            out.append(f"{what}: {key} shows {seen[key]}, the source has {want[key]}")
    return out


def _same(seen: Any, want: Any) -> bool:
    if isinstance(want, Decimal):
        return isinstance(seen, int | float) and abs(Decimal(seen) - want) <= HALF_CENT
    return bool(seen == want)


def table_differences(tables: list[dict[str, Any]], want: SourceFigures) -> list[str]:
    """The top-countries table and the payments-outstanding table, row by row."""
    ranked = sorted(want.by_country.items(), key=lambda kv: (-kv[1][1], kv[0]))[:TOP]
    countries = {c: [f"{n:,}", f"{rev:,.2f}"] for c, (n, rev) in ranked}
    unpaid = {c: [f"{n:,}", f"{amount:,.2f}"] for c, (n, amount) in want.unpaid.items()}
    out = []
    for what, head, rows in (
        ("top delivery countries", ["country", "orders", f"revenue {want.currency}"], countries),
        ("payments outstanding", ["currency", "payments", "amount"], unpaid),
    ):
        table = [t for t in tables if t["head"][-3:] == head]
        if len(table) != 1:
            out.append(f"{what}: {len(table)} tables headed {head}")
            continue
        out += differences(what, keyed(what, [(r[0], r[1:]) for r in table[0]["rows"]]), rows)
    return out
