"""The embedded demo: a local PostgreSQL (under ``data_dir/pg``) with the totesys database.

What runs the pipeline over it (``make demo``) is wiring: :mod:`pgcdc.pipeline.demo_run`.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import psycopg
from psycopg import sql

from pgcdc.devtools.localpg import LocalCluster

DEMO_DATABASE = "totesys"


def cluster_for(directory: Path) -> LocalCluster:
    """The embedded cluster kept in ``directory`` (not started)."""
    return LocalCluster(directory.resolve())


def up(directory: Path) -> LocalCluster:
    """Create/start the embedded cluster in ``directory`` and its demo database. Idempotent."""
    cluster = cluster_for(directory).ensure_running()
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DEMO_DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DEMO_DATABASE)))
    return cluster


def down(directory: Path) -> None:
    """Stop the embedded cluster kept in ``directory`` if it runs. Idempotent."""
    cluster_for(directory).stop()


def demo_tables_exist(dsn: str) -> bool:
    """Whether the demo schema has been created in the source."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT to_regclass('public.sales_order') IS NOT NULL").fetchone()
        return bool(row and row[0])


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
    """A few figures from a DuckDB warehouse (current fact versions only), read as the read
    side reads it; none for PostgreSQL."""
    from pgcdc.readside.warehouse import duckdb_file, read_only

    if duckdb_file(warehouse) is None:
        return []
    with read_only(warehouse) as reader:
        orders = reader.query("SELECT count(*) FROM fact_sales_order_current")[1]
        revenue = reader.query(
            "SELECT c.currency_code, sum(f.units_sold * f.unit_price) FROM "
            "fact_sales_order_current f JOIN dim_currency c USING (currency_id) "
            "GROUP BY 1 ORDER BY 1"
        )[1]
    money = ", ".join(f"{code} {amount:,.2f}" for code, amount in revenue)
    return [f"warehouse: {orders[0][0] if orders else 0:,} current sales orders; revenue {money}"]
