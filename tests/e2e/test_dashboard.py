"""`pgcdc dashboard` in a real headless Chromium: the figures on the page are the warehouse's,
and a new order in the source shows up after one pipeline run and the next refresh.

Every chart and table is proven right, not just drawn: what each chart plots is read back from
the rendered chart (tests/e2e/page_charts.py) and compared, point by point and both ways, with
the figures computed from the source database (tests/e2e/chart_oracle.py), before and after
the new order.

The warehouse is built by the real pipeline (slot, demo database, capture, transform, load).
The page is served by `pgcdc dashboard` as a subprocess and read with Playwright driving
Debian's Chromium (no browser download). Every request the page makes is checked: anything
not on 127.0.0.1 is refused and fails the test. A screenshot of each state is saved under
$PGCDC_TEST_ARTEFACTS (default: test-artifacts/dashboard/ in the repository, git-ignored) and
checked to be a PNG of the whole page; test-artifacts/dashboard.png is a committed copy.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import psycopg
import pytest

from pgcdc.devtools.demo import init_demo
from pgcdc.pipeline import config, service
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.settings import Settings
from pgcdc.storage import open_store
from pgcdc.storage.lake.processed import committed_batches
from tests.e2e.artefacts import folder, png_size
from tests.e2e.chart_oracle import (
    SourceFigures,
    caption_differences,
    chart_differences,
    runs_differences,
    source_figures,
    table_differences,
)
from tests.e2e.page_charts import read_charts

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",  # we run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
REFRESH_SECONDS = 2
NEW_UNITS, NEW_PRICE = 7, Decimal("123.45")
ARTEFACTS = folder("dashboard")

SOURCE_TOTALS = """
    SELECT c.currency_code, count(*), sum(so.units_sold * so.unit_price)
    FROM sales_order so JOIN currency c USING (currency_id) GROUP BY 1"""
SOURCE_BY_COUNTRY = """
    SELECT a.country, sum(so.units_sold * so.unit_price) FROM sales_order so
    JOIN address a ON a.address_id = so.agreed_delivery_location_id
    JOIN currency c USING (currency_id) WHERE c.currency_code = %s GROUP BY 1"""
NEW_ORDER = """
    INSERT INTO sales_order (design_id, staff_id, counterparty_id, units_sold, unit_price,
        currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id,
        last_updated)
    SELECT (SELECT min(design_id) FROM design), (SELECT min(staff_id) FROM staff),
           (SELECT min(counterparty_id) FROM counterparty), %s, %s, c.currency_id,
           '2030-01-02', '2030-02-03', a.address_id, now()
    FROM currency c, address a WHERE c.currency_code = %s AND a.country = %s
    ORDER BY a.address_id LIMIT 1
    RETURNING sales_order_id"""

pytest.importorskip("playwright.sync_api", reason="the e2e extra (playwright) is not installed")
if not Path(CHROMIUM).exists():  # pragma: no cover - depends on the machine
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )


def money(value: Decimal) -> str:
    return f"{value:,.2f}"


@pytest.fixture
def settings(pg_dsn: str, slot_name: str, tmp_path: Path, warehouse_uri: str) -> Settings:
    """A seeded demo source captured from its first change, and the pipeline's settings."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot_name,))
    init_demo(pg_dsn, scale=0.02)
    return config.load_settings(
        source_dsn=pg_dsn,
        raw_uri=str(tmp_path / "raw"),
        processed_uri=str(tmp_path / "processed"),
        warehouse_uri=warehouse_uri,
        slot=slot_name,
    )


def source(dsn: str, text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(text.encode(), params)
        return [tuple(r) for r in cur.fetchall()] if cur.description else []


def run_pipeline(settings: Settings) -> None:
    """Capture, transform, load once, while the page keeps reading the warehouse: the loader
    itself waits out a refresh that holds the DuckDB file."""
    service.capture_once(settings, service.capture_options(settings))
    service.transform_once(settings)
    service.load_once(settings)


@pytest.fixture
def dashboard(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """`pgcdc dashboard` on a free port; its URL. Secrets go through the environment."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGCDC_")}
    env.update(
        PGCDC_SOURCE_DSN=config.source_dsn(settings),
        PGCDC_WAREHOUSE_URI=config.warehouse_uri(settings),
        PGCDC_RAW_URI=settings.raw_uri,
        PGCDC_PROCESSED_URI=settings.processed_uri,
        PGCDC_SLOT=settings.slot,
        HOME=str(tmp_path / "home"),  # Streamlit keeps a machine id there
    )
    log = (tmp_path / "dashboard.log").open("wb")
    command = [sys.executable, "-m", "pgcdc.pipeline.cli", "dashboard", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--refresh", str(REFRESH_SECONDS), "--log-format", "text"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_healthy(port, proc, tmp_path / "dashboard.log")
        yield f"http://127.0.0.1:{port}/"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dashboard exited {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"dashboard not healthy after 120 s:\n{log.read_text()}")


READ_PAGE = """() => {
  const text = (e) => (e ? e.innerText.trim() : "");
  const metrics = {};
  for (const m of document.querySelectorAll('[data-testid="stMetric"]')) {
    metrics[text(m.querySelector('[data-testid="stMetricLabel"]'))] =
      text(m.querySelector('[data-testid="stMetricValue"]'));
  }
  const tables = [];
  for (const t of document.querySelectorAll('[data-testid="stTable"] table')) {
    const head = [...t.querySelectorAll("thead th")].map(text);
    const rows = [...t.querySelectorAll("tbody tr")].map(
      (r) => [...r.querySelectorAll("td")].map(text));
    tables.push({head, rows});
  }
  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].map(
    (c) => c.querySelectorAll("canvas, svg.marks").length);
  return {metrics, tables, charts, body: document.body.innerText};
}"""


def _wait_for(page: Any, ok: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    """Read the page until ``ok`` holds (the page refreshes itself); the last reading."""
    deadline = time.monotonic() + 90
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = page.evaluate(READ_PAGE)
        if ok(seen):
            return seen
        page.wait_for_timeout(500)
    pytest.fail(f"page never showed {what}; last seen: {seen.get('metrics')} {seen.get('body')}")


def _drawn(charts: list[int]) -> bool:
    """The month line, map, design, counterparty, department and staff charts, each drawn."""
    return len(charts) >= 6 and all(n > 0 for n in charts)


def _country_table(seen: dict[str, Any], currency: str) -> dict[str, str]:
    for table in seen["tables"]:
        if f"revenue {currency}" in table["head"]:
            return {row[0]: row[-1] for row in table["rows"]}
    return {}


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[tuple[Any, list[str]]]:
    """A headless Chromium page that refuses (and records) any request off this machine."""
    from playwright.sync_api import sync_playwright

    outside: list[str] = []

    def local_only(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith("data:") or host in {"127.0.0.1", "localhost"}:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 3800},
        )
        try:
            page = context.new_page()
            page.route("**/*", local_only)
            yield page, outside
        finally:
            context.close()


def test_dashboard_shows_warehouse_figures_and_follows_a_new_order(
    settings: Settings,
    dashboard: str,
    browser_page: tuple[Any, list[str]],
    request: pytest.FixtureRequest,
) -> None:
    page, outside = browser_page
    dsn = config.source_dsn(settings)
    # an update before the first run: the warehouse holds two versions of this order, and the
    # page must count it once (current versions only)
    source(
        dsn,
        "UPDATE sales_order SET units_sold = units_sold + 1, last_updated = now() "
        "WHERE sales_order_id = (SELECT min(sales_order_id) FROM sales_order)",
    )
    run_pipeline(settings)
    totals = {code: (n, rev) for code, n, rev in source(dsn, SOURCE_TOTALS)}
    currency = max(totals, key=lambda c: totals[c][1])
    by_country = dict(source(dsn, SOURCE_BY_COUNTRY, (currency,)))
    country = max(by_country, key=lambda c: by_country[c])

    page.goto(dashboard)
    want = {f"Revenue {code}": money(rev) for code, (_n, rev) in totals.items()}
    want["Current orders"] = f"{sum(n for n, _ in totals.values()):,}"
    (unpaid,) = source(dsn, "SELECT count(*) FROM payment WHERE NOT paid")[0]
    want["Payments outstanding"] = f"{unpaid:,}"
    seen = _wait_for(
        page,
        lambda s: (
            all(s["metrics"].get(k) == v for k, v in want.items())
            and country in _country_table(s, currency)
            and _drawn(s["charts"])
            and "Slot lag" in s["metrics"]
        ),
        f"{want}, the charts and the health panel",
    )
    assert _country_table(seen, currency)[country] == money(by_country[country])
    # the month line, the map, design, counterparties, department and staff charts, drawn
    assert _drawn(seen["charts"]), seen["charts"]
    assert f"Revenue by delivery country ({currency})" in seen["body"]
    assert seen["metrics"]["Slot lag"] != "n/a", seen["body"]  # the source was reachable
    # the loads recorded their newest source commit, and the page shows its age
    assert seen["metrics"]["Newest source commit"].endswith(" ago"), seen["body"]
    assert seen["metrics"]["Last load"].endswith(" ago"), seen["body"]
    password = str(psycopg.conninfo.conninfo_to_dict(dsn).get("password") or "")
    assert not password or password not in seen["body"]
    _charts_agree(page, source_figures(partial(source, dsn), currency), _bounds(settings))
    _screenshot(page, request, "before", want)

    (new_id,) = source(dsn, NEW_ORDER, (NEW_UNITS, NEW_PRICE, currency, country))[0]
    run_pipeline(settings)  # while the page keeps refreshing
    amount = NEW_UNITS * NEW_PRICE
    want_after = {
        f"Revenue {currency}": money(totals[currency][1] + amount),
        "Current orders": f"{sum(n for n, _ in totals.values()) + 1:,}",
    }
    country_after = money(by_country[country] + amount)
    seen = _wait_for(
        page,
        lambda s: (
            all(s["metrics"].get(k) == v for k, v in want_after.items())
            and _country_table(s, currency).get(country) == country_after
        ),
        f"{want_after} and {country} at {country_after}",
    )
    # the other currencies did not move
    for code, (_n, rev) in totals.items():
        if code != currency:
            assert seen["metrics"][f"Revenue {code}"] == money(rev)
    assert new_id is not None
    _charts_agree(page, source_figures(partial(source, dsn), currency), _bounds(settings))
    _screenshot(page, request, "after", want_after)
    assert outside == [], f"the page called out to the network: {outside}"


def _bounds(settings: Settings) -> dict[str, str]:
    """Batch → its bound as an LSN (``X/Y``), from the processed store's manifests."""
    processed = open_store(settings.processed_uri)
    return {str(b.run): str(Lsn(b.bound)) for b in committed_batches(processed)}


def _charts_agree(page: Any, want: SourceFigures, bounds: dict[str, str]) -> None:
    """Every chart and table on the page equals the source's figures (and the last-runs
    table the manifests' bounds). The page redraws on each refresh, so it is read until it
    agrees; the last reading's differences fail the test."""
    deadline = time.monotonic() + 60
    problems = ["no chart drawn"]
    while time.monotonic() < deadline:
        charts = read_charts(page, want.probe())
        if charts is not None:
            seen = page.evaluate(READ_PAGE)
            problems = chart_differences(charts, want) + table_differences(seen["tables"], want)
            problems += caption_differences(seen["body"], want)
            problems += runs_differences(seen["tables"], bounds)
            if not problems:
                break
        page.wait_for_timeout(500)
    assert not problems, "the page differs from the source:\n" + "\n".join(problems)


def _screenshot(
    page: Any, request: pytest.FixtureRequest, state: str, figures: dict[str, str]
) -> None:
    """A PNG of the whole page, which still shows ``figures`` (label → value, the ones the
    test just checked) when it is taken."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    name = request.node.name.replace("/", "_").replace("[", "-").rstrip("]")
    path = ARTEFACTS / f"{name}-{state}.png"
    # Each refresh greys the elements it has not redrawn yet, and on a busy machine one
    # refresh follows the other; the greyed elements still show what was checked.
    page.add_style_tag(content=UNFADED)
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    seen = page.evaluate(READ_PAGE)["metrics"]
    assert all(seen.get(k) == v for k, v in figures.items()), (path, seen, figures)
    # the whole page, as a PNG: the viewport's width, at least its height
    viewport = page.viewport_size
    width, height = png_size(path.read_bytes())
    assert width == viewport["width"] and height >= viewport["height"], (path, width, height)


UNFADED = '[data-stale="true"] { opacity: 1 !important; transition: none !important; }'


def test_empty_warehouse_says_what_fills_it(
    settings: Settings,
    dashboard: str,
    browser_page: tuple[Any, list[str]],
    request: pytest.FixtureRequest,
) -> None:
    """Before any load (a DuckDB file not created yet; a PostgreSQL database without the
    loader's tables) the page says so once and names the command that fills it: no "read at
    never", no chart, no per-panel error. After a pipeline run the figures appear."""
    page, outside = browser_page
    page.goto(dashboard)
    seen = _wait_for(page, lambda s: "pgcdc run" in s["body"], "the empty state")
    page.wait_for_timeout(2 * REFRESH_SECONDS * 1000)  # a refresh later, still the same
    seen = page.evaluate(READ_PAGE)
    assert "Fill it with pgcdc run" in seen["body"], seen["body"]
    assert "never" not in seen["body"], seen["body"]
    assert "Not available yet" not in seen["body"], seen["body"]
    assert seen["charts"] == [] and seen["metrics"] == {}, seen
    _screenshot(page, request, "empty", {})

    run_pipeline(settings)
    seen = _wait_for(page, lambda s: "Current orders" in s["metrics"], "figures after a run")
    assert "pgcdc run" not in seen["body"], seen["body"]
    assert outside == [], f"the page called out to the network: {outside}"


def test_reader_waits_out_then_reports_a_writer_lock(tmp_path: Path) -> None:
    """A DuckDB file held read-write by another process (a load): the read retries, then fails
    with a transient error naming the file; once released, the same read works."""
    from pgcdc.readside.dashboard.figures import read_figures
    from pgcdc.schemas.errors import TransientError

    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE pgcdc_load_state (run BIGINT, bound BIGINT, loaded_at TIMESTAMPTZ)"
        )
        con.execute("INSERT INTO pgcdc_load_state VALUES (1, 10, now())")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb,sys; c=duckdb.connect(sys.argv[1]); "
            "print('held', flush=True); sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with pytest.raises(TransientError, match="locked by a writer") as caught:
            read_figures(str(path))
        assert str(path) in str(caught.value)
    finally:
        holder.communicate(timeout=30)  # closes stdin (the holder exits) and stdout
    figures = read_figures(str(path))
    assert figures.panel("load_runs").rows[0][:2] == (1, 10)
    assert figures.panel("sales_totals").error  # no fact tables yet: that panel says why
