"""The embedded demo: a local PostgreSQL under ``data_dir/pg`` with the totesys database."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
from psycopg import sql

from pipeline import config
from pipeline.localpg import LocalCluster
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


def run_demo(
    settings: Settings, *, scale: float, duration: float, rate: float, say: Callable[[str], None]
) -> int:
    """``make demo``: start, seed (once), preflight, capture, workload, capture, report."""
    from cdc_reader.preflight import Status, capture_is_safe, run_checks
    from pipeline import service
    from pipeline.demo import init_demo, run_workload

    started = time.monotonic()
    cluster = up(settings)
    say(f"1/8 PostgreSQL with wal2json running in {cluster.directory} (127.0.0.1:{cluster.port})")
    dsn = config.source_dsn(settings)
    if demo_tables_exist(dsn):
        say(f"2/8 demo database {DEMO_DATABASE!r} already seeded: keeping it")
    else:
        say(f"2/8 creating and seeding {DEMO_DATABASE!r} at scale {scale}")
        say("    " + init_demo(dsn, scale=scale, progress=say).describe())
    results = run_checks(dsn, slot=settings.slot, table_filter=config.table_filter(settings))
    say("3/8 preflight: " + ", ".join(f"{r.name}={r.status.value}" for r in results))
    for r in results:
        if r.status is Status.FAIL:
            say(f"    FAIL {r.name}: {r.message}")
    if not capture_is_safe(results):
        return 1
    options = service.capture_options(settings)
    if _slot_exists(dsn, settings.slot):
        say(f"4/8 slot {settings.slot!r} exists: catching up on changes since the last run")
        say("    " + service.capture_once(settings, options).describe())
    else:
        say(f"4/8 snapshot into {settings.raw_uri}: slot {settings.slot!r} starts here")
        say("    " + service.take_snapshot(settings).describe())
    say(f"5/8 live workload: {rate:g} transactions/s for {duration:g} s")
    say("    " + run_workload(dsn, rate=rate, duration=duration, progress=say).describe())
    say("6/8 capture the workload's changes")
    say("    " + service.capture_once(settings, options).describe())
    say("7/8 transform into the processed store")
    say("    " + service.transform_once(settings).describe())
    say(f"8/8 load into the warehouse ({settings.warehouse_uri.get_secret_value()})")
    say("    " + service.load_once(settings).describe())
    for line in warehouse_figures(config.warehouse_uri(settings)):
        say("    " + line)
    say(f"demo done in {time.monotonic() - started:.1f} s; data under {settings.data_dir}/")
    return 0


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
