"""What the dashboard's charts plot, read back from the rendered page in the browser.

Streamlit draws each Altair chart with Vega, whose View holds the scene graph (every drawn
item with its pixel position, size and colour) and the scales. The test reads the View of
every chart (found through the React component that keeps it) and turns each drawn item back
into the values it stands for by *inverting the chart's scales on the item's geometry*: a bar's
revenue is the x scale inverted at the bar's end, a point's month is the x position's category,
its currency the colour's category. So the reading is what a user sees, not the data rows
handed to the chart: plotting another field, or scaling the values, changes the reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

READ_CHARTS = """(probe) => {
  const viewOf = (chart) => {
    for (const el of [chart, ...chart.querySelectorAll("*")]) {
      const key = Object.keys(el).find((k) => k.startsWith("__reactFiber$"));
      for (let f = key ? el[key] : null; f; f = f.return) {
        for (let h = f.memoizedState; h && typeof h === "object" && "next" in h; h = h.next) {
          const ref = h.memoizedState;
          if (ref && ref.current && typeof ref.current.scenegraph === "function") {
            return ref.current;
          }
        }
      }
    }
    return null;
  };
  const scaleOf = (view, name) => { try { return view.scale(name); } catch (e) { return null; } };
  const discrete = (s) => ["band", "point", "ordinal"].includes(s.type);
  const temporal = (s) => ["time", "utc"].includes(s.type);
  const month = (t) => {  // the UTC month a time-scale position stands for ("YYYY-MM")
    const d = new Date(+t + 43200000);  // half a day: a pixel's rounding never crosses a month
    return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
  };
  const category = (s, pos) => {
    const half = (s.bandwidth ? s.bandwidth() : 0) / 2;
    const hits = s.domain().filter((d) => Math.abs(s(d) + half - pos) <= Math.max(half, 0.5));
    return hits.length === 1 ? hits[0] : null;
  };
  const read = (view, item, type) => {
    const r = {};
    const x = scaleOf(view, "x"), y = scaleOf(view, "y");
    const size = scaleOf(view, "size"), colour = scaleOf(view, "color");
    if (x) r.x = discrete(x) ? category(x, item.x + (item.width || 0) / 2)
      : temporal(x) ? month(x.invert(item.x))
      : x.invert(item.x + (type === "rect" ? item.width : 0));
    if (x && type === "rect" && !discrete(x)) r.x_start = x.invert(item.x);
    if (y) r.y = discrete(y) ? category(y, item.y + (item.height || 0) / 2) : y.invert(item.y);
    if (size && item.size != null) r.size = size.invert(item.size);
    const paint = item.fill ?? item.stroke;
    const named = (s) => s.domain().find((d) => s(d) === paint) ?? null;
    if (colour) r.color = discrete(colour) ? named(colour) : paint;
    if (item.tooltip) r.tooltip = item.tooltip;
    return r;
  };
  // an axis or legend group: its title, its labels (shown: not hidden by overlap pruning)
  const guide = (group, kind) => {
    const out = {kind, title: null, labels: [], gradient: false, bounds: group.bounds};
    const walk = (node) => {
      if (!node || !node.items) return;
      for (const item of node.items) {
        if (node.role === `${kind}-title`) out.title = item.text;
        if (node.role === `${kind}-label`) {
          out.labels.push({text: item.text, shown: item.opacity !== 0});
        }
        if (node.role === "legend-gradient") out.gradient = true;
        walk(item);
      }
    };
    walk(group);
    return out;
  };
  const collect = (view) => {
    const marks = {}, titles = [], guides = [];
    const walk = (node) => {
      if (!node || !node.items) return;
      if (node.marktype && node.role === "mark" && node.name) {
        const mark = (marks[node.name] ??= {type: node.marktype, items: []});
        for (const item of node.items) mark.items.push(read(view, item, node.marktype));
      }
      if (node.role === "axis-title" || node.role === "legend-title") {
        for (const item of node.items) titles.push(item.text);
      }
      if (node.role === "axis" || node.role === "legend") {
        for (const item of node.items) guides.push(guide(item, node.role));
      }
      for (const item of node.items) walk(item);
    };
    walk(view.scenegraph().root);
    return {marks, titles, guides};
  };
  // the part of the view's coordinates the page shows (the chart element's box)
  const shown = (el, view) => {
    const box = el.getBoundingClientRect(), origin = view.origin();
    return {x1: -origin[0], y1: -origin[1], x2: box.width - origin[0], y2: box.height - origin[1]};
  };
  const types = (view) => Object.fromEntries(["x", "y", "color", "size"].map(
    (n) => [n, scaleOf(view, n)?.type ?? null]));
  const out = [];
  let heading = null;
  for (const el of document.querySelectorAll('h3, [data-testid="stVegaLiteChart"]')) {
    if (el.tagName === "H3") { heading = el.textContent.trim(); continue; }
    const view = viewOf(el);
    if (!view) { out.push({heading, drawn: false}); continue; }
    const colour = scaleOf(view, "color");
    const colorOf = colour && !discrete(colour) ? probe.map((v) => colour(v)) : null;
    out.push({heading, drawn: true, colorOf, scales: types(view), shown: shown(el, view),
              ...collect(view)});
  }
  return out;
}"""


@dataclass
class Chart:
    """One chart as read from the page: its heading, axis and legend titles, drawn marks."""

    heading: str
    titles: list[str]
    marks: dict[str, dict[str, Any]]
    color_of: dict[float, str] = field(default_factory=dict)
    scales: dict[str, str | None] = field(default_factory=dict)
    """Scale type by channel (x, y, color, size; None when the chart has no such scale)."""
    guides: list[dict[str, Any]] = field(default_factory=list)
    """Every axis and legend: kind, title, labels (text, shown), gradient, bounds."""
    shown: dict[str, float] = field(default_factory=dict)
    """The box of view coordinates the page shows (x1, y1, x2, y2)."""

    def axis(self, title: str | None) -> dict[str, Any] | None:
        """The labelled axis with this title (None: the untitled one), or None (a grid is
        drawn as an axis of its own, without labels)."""
        found = [
            g for g in self.guides if g["kind"] == "axis" and g["title"] == title and g["labels"]
        ]
        return found[0] if len(found) == 1 else None

    def legends(self) -> list[dict[str, Any]]:
        """Every legend of the chart."""
        return [g for g in self.guides if g["kind"] == "legend"]

    def items(self, *types: str) -> dict[str, list[dict[str, Any]]]:
        """The readings of every mark of these mark types, by mark name."""
        return {n: m["items"] for n, m in self.marks.items() if m["type"] in types}


def read_charts(page: Any, probe: list[float]) -> list[Chart] | None:
    """Every chart on the page in page order; None while one is not drawn yet.

    ``probe``: values whose colour on a continuous colour scale (the map's shading) the page
    should report, so the test can check a shaded country's colour stands for its revenue.
    """
    charts = []
    for c in page.evaluate(READ_CHARTS, probe):
        if not c["drawn"]:
            return None
        colours = dict(zip(probe, c["colorOf"] or (), strict=False))
        charts.append(
            Chart(
                c["heading"] or "",
                c["titles"],
                c["marks"],
                colours,
                scales=c["scales"],
                guides=c["guides"],
                shown=c["shown"],
            )
        )
    return charts


def month_line(chart: Chart) -> list[dict[tuple[str, str], float]]:
    """(month, currency) → revenue, once for the line and once for its points."""
    readings = []
    for name, items in chart.items("line", "symbol").items():
        readings.append(keyed(name, [((i["x"], i["color"]), i["y"]) for i in items]))
    return readings


def bars(chart: Chart) -> dict[str, float]:
    """Bar label → revenue (the x scale inverted at the bar's end); every bar starts at 0."""
    items = [i for v in chart.items("rect").values() for i in v]
    starts = {i["y"]: i["x_start"] for i in items if abs(i["x_start"]) > 1e-9}
    assert not starts, f"{chart.heading}: bars not starting at 0: {starts}"
    return keyed(chart.heading, [(i["y"], i["x"]) for i in items])


def map_layers(chart: Chart) -> tuple[dict[str, str], dict[str, str]]:
    """Shaded countries → fill colour, and dotted countries → fill colour."""
    shaded = [i for v in chart.items("shape").values() for i in v if "tooltip" in i]
    dots = [i for v in chart.items("symbol").values() for i in v]
    return (
        keyed("shaded countries", [(i["tooltip"]["country"], i["color"]) for i in shaded]),
        keyed("dots", [(i["tooltip"]["country"], i["color"]) for i in dots]),
    )


def keyed(what: str, pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    """Pairs as a dict; a key drawn twice (or an item no category matched) is a failure."""
    out: dict[Any, Any] = {}
    for key, value in pairs:
        assert key not in out, f"{what}: {key} drawn twice"
        out[key] = value
    return out
