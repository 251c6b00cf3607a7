"""The embedded demo: a local PostgreSQL under ``data_dir/pg`` with the totesys database."""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

from devtools.localpg import LocalCluster
from pipeline import config
from pipeline.logs import say
from schemas.settings import Settings

DEMO_DATABASE = "totesys"


def cluster_for(settings: Settings) -> LocalCluster:
    """The embedded cluster object (not started)."""
    return LocalCluster(config.embedded_cluster_dir(settings).resolve())


def up(settings: Settings) -> LocalCluster:
    """Create/start the embedded cluster and its demo database. Idempotent."""
    cluster = cluster_for(settings).ensure_running()
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DEMO_DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DEMO_DATABASE)))
    return cluster


def down(settings: Settings) -> None:
    """Stop the embedded cluster if it runs. Idempotent."""
    cluster_for(settings).stop()


def demo_tables_exist(dsn: str) -> bool:
    """Whether the demo schema has been created in the source."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT to_regclass('public.sales_order') IS NOT NULL").fetchone()
        return bool(row and row[0])


def _slot_exists(dsn: str, slot: str) -> bool:
    with psycopg.connect(dsn) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)
        ).fetchone()
        return found is not None


def run_demo(settings: Settings, *, scale: float, duration: float, rate: float) -> int:
    """``make demo``: start, seed (once), preflight, capture, workload, capture, report, then
    say what to run next and how to stop the server it leaves running."""
    from devtools.demo import run_workload
    from pipeline import service

    started = time.monotonic()
    cluster = up(settings)
    say(f"1/8 PostgreSQL with wal2json running in {cluster.directory} (127.0.0.1:{cluster.port})")
    dsn = config.source_dsn(settings)
    _seed(dsn, scale)
    if not _preflight(settings, dsn):
        return 1
    options = service.capture_options(settings)
    if _slot_exists(dsn, settings.slot):
        say(f"4/8 slot {settings.slot!r} exists: catching up on changes since the last run")
        say(service.capture_once(settings, options).describe(), indent=4)
    else:
        say(f"4/8 snapshot into {settings.raw_uri}: slot {settings.slot!r} starts here")
        say(service.take_snapshot(settings).describe(), indent=4)
    say(f"5/8 live workload: {rate:g} transactions/s for {duration:g} s")
    workload = run_workload(dsn, rate=rate, duration=duration, progress=_detail)
    say(workload.describe(), indent=4)
    say("6/8 capture the workload's changes")
    say(service.capture_once(settings, options).describe(), indent=4)
    say("7/8 transform into the processed store")
    say(service.transform_once(settings).describe(), indent=4)
    say(f"8/8 load into the warehouse ({settings.warehouse_uri.get_secret_value()})")
    say(service.load_once(settings).describe(), indent=4)
    for line in warehouse_figures(config.warehouse_uri(settings)):
        say(line, indent=4)
    say(f"demo done in {time.monotonic() - started:.1f} s; data under {settings.data_dir}/")
    for line in closing_lines(cluster):
        say(line)
    return 0


def _detail(message: str) -> None:
    say(message, indent=4)


def _seed(dsn: str, scale: float) -> None:
    """Step 2: create and seed the demo tables unless they exist."""
    from devtools.demo import init_demo

    if demo_tables_exist(dsn):
        say(f"2/8 demo database {DEMO_DATABASE!r} already seeded: keeping it")
        return
    say(f"2/8 creating and seeding {DEMO_DATABASE!r} at scale {scale}")
    say(init_demo(dsn, scale=scale, progress=_detail).describe(), indent=4)


def _preflight(settings: Settings, dsn: str) -> bool:
    """Step 3: ``pgcdc check`` (the source and the raw store); False when unsafe."""
    from cdc_reader.preflight import Status, capture_is_safe, check_store, run_checks
    from pipeline import service

    results = run_checks(dsn, slot=settings.slot, table_filter=config.table_filter(settings))
    results.append(check_store(service.raw_store(settings)))
    say("3/8 preflight: " + ", ".join(f"{r.name}={r.status.value}" for r in results))
    for r in results:
        if r.status is Status.FAIL:
            say(f"FAIL {r.name}: {r.message}", indent=4)
    return capture_is_safe(results)


# What the closing block suggests; the query works on the demo's raw store.
NEXT_QUERY = "SELECT _op, count(*) AS changes FROM sales_order_history GROUP BY _op ORDER BY _op"


def closing_lines(cluster: LocalCluster) -> list[str]:
    """What to run next (query, dashboard, status), where the server runs, how to stop it."""
    pgcdc = command_prefix()
    lines = [
        "",
        "next:",
        f"  {pgcdc} query {shlex.quote(NEXT_QUERY)}",
        f"  {pgcdc} dashboard       # then open http://127.0.0.1:8501 (Ctrl-C stops it)",
        f"  {pgcdc} status          # slot lag, pending changes, warehouse freshness",
    ]
    if pgcdc != "pgcdc":
        activate = Path(pgcdc).parent / "activate"
        lines.append(f"  (or `source {activate}` once, then type `pgcdc …`)")
    lines += [
        f"PostgreSQL keeps running on 127.0.0.1:{cluster.port} (data in {cluster.data_dir})",
        "stop it with `make demo-down` (keeps the data) or `make clean` (stops it and "
        "deletes ./pgcdc-data)",
    ]
    return lines


def command_prefix() -> str:
    """How to type ``pgcdc`` here: ``pgcdc`` when the shell finds this very installation,
    else the script beside this interpreter (``.venv/bin/pgcdc``, relative when below the
    working folder)."""
    script = Path(sys.executable).parent / "pgcdc"
    if not script.exists():
        return "pgcdc"
    found = shutil.which("pgcdc")
    if found and Path(found).resolve() == script.resolve():
        return "pgcdc"
    try:
        return str(script.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(script.absolute())


def warehouse_figures(warehouse: str) -> list[str]:
    """A few figures from a DuckDB warehouse (current fact versions only)."""
    if "://" in warehouse:
        return []
    import duckdb

    with duckdb.connect(warehouse, read_only=True) as con:
        orders = con.execute("SELECT count(*) FROM fact_sales_order_current").fetchone()
        revenue = con.execute(
            "SELECT c.currency_code, sum(f.units_sold * f.unit_price) FROM "
            "fact_sales_order_current f JOIN dim_currency c USING (currency_id) "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
    money = ", ".join(f"{code} {amount:,.2f}" for code, amount in revenue)
    return [f"warehouse: {orders[0] if orders else 0:,} current sales orders; revenue {money}"]
