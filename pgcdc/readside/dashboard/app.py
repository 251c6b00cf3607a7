"""The Streamlit page of ``pgcdc dashboard`` (run by ``streamlit run``; see server.py).

Settings come from the environment the server set (``PGCDC_*``), so no secret is on a
command line. The page body is a fragment that reruns every ``PGCDC_DASHBOARD_REFRESH``
seconds: it reads the warehouse in one short read-only session, and when that fails (the
loader holds the DuckDB file, the database is down) it keeps showing the last figures it had,
with a note saying since when.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from typing import Any

import altair as alt
import streamlit as st

from pgcdc.readside.dashboard import health, worldmap
from pgcdc.readside.dashboard.figures import Figures, Panel, read_figures
from pgcdc.schemas.errors import PgcdcError
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.settings import Settings, load_settings, redact_uri

REFRESH_ENV = "PGCDC_DASHBOARD_REFRESH"
TOP = 10
FILL_HINT = (
    "Fill it with `pgcdc run` (capture → transform → load), or `make demo` for the demo "
    "database; this page picks the figures up on its next refresh."
)


def money(value: Any) -> str:
    """An amount as the page shows it (and the e2e test reads it): ``12,345.67``."""
    return f"{value:,.2f}"


def main() -> None:
    """Lay out the page; the figures refresh on their own."""
    st.set_page_config(page_title="pgcdc dashboard", layout="wide")
    settings = load_settings()
    refresh = float(os.environ.get(REFRESH_ENV, "5"))
    uri = settings.warehouse_uri.get_secret_value()  # `pgcdc dashboard` resolved it
    st.title("Sales dashboard")
    st.caption(
        f"warehouse {redact_uri(uri)} · current fact versions only · refreshes every {refresh:g} s"
    )
    st.fragment(run_every=refresh)(_body)(settings, uri)


def _body(settings: Settings, uri: str) -> None:
    figures = _read(uri)
    if figures is None:
        return
    if not figures.panel("load_runs").rows:
        st.info(f"The warehouse {redact_uri(uri)} holds no loaded batch yet. {FILL_HINT}")
        return
    totals = figures.panel("sales_totals")
    currencies = [str(r[0]) for r in sorted(totals.rows, key=lambda r: -r[3])]
    if not currencies:
        st.info("No current sales orders in the warehouse yet.")
    currency = st.selectbox("Currency", currencies or ["GBP"], key="currency")
    _key_figures(figures, currency)
    _sales_charts(figures, currency)
    _health(figures, settings)


def _read(uri: str) -> Figures | None:
    """This refresh's figures, or the last good ones with a note when the read fails."""
    try:
        figures = read_figures(uri)
    except PgcdcError as exc:
        last: Figures | None = st.session_state.get("last_figures")
        if last is None:  # nothing read yet: say what fills the page, not "read at never"
            st.info(f"Nothing to show yet: {exc}. {FILL_HINT}")
            return None
        since = last.read_at.strftime("%H:%M:%S UTC")
        st.warning(f"Could not read the warehouse: {exc}. Showing the figures read at {since}.")
        return last
    st.session_state["last_figures"] = figures
    return figures


def _key_figures(figures: Figures, currency: str) -> None:
    totals = figures.panel("sales_totals")
    runs = figures.panel("load_runs")
    batch = runs.rows[0][0] if runs.rows else "none"
    st.caption(f"Figures read at {figures.read_at:%H:%M:%S} UTC · last loaded batch {batch}")
    cols = st.columns(2 + len(totals.rows))
    cols[0].metric("Current orders", f"{sum(r[1] for r in totals.rows):,}")
    for col, (code, _orders, _units, revenue) in zip(cols[1:-1], totals.rows, strict=True):
        col.metric(f"Revenue {code}", money(revenue))
    outstanding = figures.panel("payments_outstanding")
    cols[-1].metric("Payments outstanding", f"{sum(r[1] for r in outstanding.rows):,}")
    _errors(totals)


def _sales_charts(figures: Figures, currency: str) -> None:
    st.subheader("Revenue by month and currency")
    _revenue_by_month(figures.panel("revenue_by_month"))
    left, right = st.columns([3, 2])
    with left:
        _country_map(figures.panel("revenue_by_country"), currency)
    with right:
        _country_table(figures.panel("revenue_by_country"), currency)
    left, right = st.columns(2)
    with left:
        _bars(figures.panel("revenue_by_design"), "design", currency, f"Top {TOP} designs")
    with right:
        _bars(
            figures.panel("revenue_by_counterparty"),
            "counterparty",
            currency,
            f"Top {TOP} counterparties",
        )
    left, right = st.columns(2)
    with left:
        _departments(figures.panel("revenue_by_staff"), currency)
    with right:
        _bars(figures.panel("revenue_by_staff"), "staff", currency, f"Top {TOP} staff members")
    _payments(figures.panel("payments_outstanding"))


def _of_currency(panel: Panel, currency: str) -> list[dict[str, Any]]:
    return [r for r in panel.records() if r.get("currency") == currency]


def _errors(panel: Panel) -> bool:
    """Say why a panel is empty; True when it is."""
    if panel.error:
        st.info(f"Not available yet: {panel.error}")
        return True
    return False


def _revenue_by_month(panel: Panel) -> None:
    if _errors(panel):
        return
    # the first day of the month, on a UTC time axis: months without orders leave a gap
    rows = [{**r, "month": f"{r['year']}-{r['month']:02d}-01"} for r in panel.records()]
    month = alt.X("month:T", timeUnit="utcyearmonth", title="month", axis=alt.Axis(format="%Y-%m"))
    chart = (
        alt.Chart({"values": rows})
        .mark_line(point=True)
        .encode(
            x=month,
            y=alt.Y("revenue:Q", title="revenue"),
            color=alt.Color("currency:N"),
            tooltip=[
                alt.Tooltip("month:T", timeUnit="utcyearmonth", format="%Y-%m"),
                "currency:N",
                alt.Tooltip("revenue:Q", format=",.2f"),
            ],
        )
        .properties(height=260)
    )
    st.altair_chart(chart, width="stretch")


def _country_map(panel: Panel, currency: str) -> None:
    st.subheader(f"Revenue by delivery country ({currency})")
    if _errors(panel):
        return
    by_country = {str(r["country"]): float(r["revenue"]) for r in _of_currency(panel, currency)}
    chart, unknown = worldmap.revenue_map(by_country, currency)
    st.altair_chart(chart, width="stretch")
    if unknown:
        st.caption("Not on the map (unknown country name): " + ", ".join(unknown))


def _country_table(panel: Panel, currency: str) -> None:
    st.subheader("Top delivery countries")
    rows = [r for r in panel.rows if r[1] == currency][:TOP]
    st.table(
        {
            "country": [str(r[0]) for r in rows],
            "orders": [f"{r[2]:,}" for r in rows],
            f"revenue {currency}": [money(r[3]) for r in rows],
        }
    )


def _bars(panel: Panel, field: str, currency: str, title: str) -> None:
    st.subheader(f"{title} ({currency})")
    if _errors(panel):
        return
    totals: dict[str, float] = defaultdict(float)
    for r in _of_currency(panel, currency):
        totals[str(r[field])] += r["revenue"]
    top = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    rows = [{field: k, "revenue": v} for k, v in top]
    # every bar keeps its label: no overlap pruning, no truncation, a row's height each
    labels = alt.Axis(labelOverlap=False, labelLimit=0, labelFontSize=12)
    chart = (
        alt.Chart({"values": rows})
        .mark_bar()
        .encode(
            x=alt.X("revenue:Q", title=f"revenue ({currency})"),
            y=alt.Y(f"{field}:N", sort="-x", title=None, axis=labels),
            tooltip=[f"{field}:N", alt.Tooltip("revenue:Q", format=",.2f")],
        )
        .properties(height=alt.Step(26))
    )
    st.altair_chart(chart, width="stretch")
    if len(totals) > len(top):
        st.caption(f"The {len(top)} largest of {len(totals)} by revenue in {currency}.")


def _departments(panel: Panel, currency: str) -> None:
    _bars(panel, "department", currency, "Revenue by department")


def _payments(panel: Panel) -> None:
    st.subheader("Payments outstanding")
    if _errors(panel):
        return
    st.table(
        {
            "currency": [str(r[0]) for r in panel.rows],
            "payments": [f"{r[1]:,}" for r in panel.rows],
            "amount": [money(r[2]) for r in panel.rows],
        }
    )


def _health(figures: Figures, settings: Settings) -> None:
    st.subheader("Pipeline health")
    now = dt.datetime.now(dt.UTC)
    runs, fresh = figures.panel("load_runs"), figures.panel("freshness")
    newest = max((r[1] for r in fresh.rows if r[1] is not None), default=None)
    slot = health.slot_figures(settings)
    cols = st.columns(4)
    cols[0].metric("Newest source commit", health.age(newest, now) + " ago" if newest else "n/a")
    last_load = runs.rows[0][2] if runs.rows else None
    cols[1].metric("Last load", health.age(last_load, now) + " ago" if last_load else "n/a")
    cols[2].metric("Slot lag", health.byte_size(slot.figures.get("lag_bytes")))
    cols[3].metric("Retained WAL", health.byte_size(slot.figures.get("retained_wal_bytes")))
    if slot.unavailable:
        st.caption(f"Slot figures unavailable: {slot.unavailable}")
    for problem in slot.figures.get("problems") or ():
        st.error(str(problem))
    st.markdown("**Last runs**")
    if not _errors(runs):
        st.table(
            {
                "batch": [str(r[0]) for r in runs.rows],
                "bound": [str(Lsn(int(r[1]))) for r in runs.rows],
                "loaded at (UTC)": [f"{r[2]:%Y-%m-%d %H:%M:%S}" for r in runs.rows],
            }
        )


if __name__ == "__main__":
    main()
