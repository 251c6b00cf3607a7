"""``pgcdc run --follow``: source commits reach the warehouse with no manual run; SIGTERM
stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.warehouse_support import Pipeline, demo_pipeline

pytestmark = pytest.mark.integration

PATIENCE = 240.0  # seconds to wait for a change before failing (not a timing assertion)


def _wait_for(p: Pipeline, query: str, want: Callable[[list[tuple[Any, ...]]], bool]) -> None:
    """Poll the warehouse until ``want(rows)`` holds; fail after PATIENCE seconds."""
    deadline = time.monotonic() + PATIENCE
    rows: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        try:
            rows = p.sql(query)
        except psycopg.errors.UndefinedTable:  # the tables appear with the first load
            rows = []
        if want(rows):
            return
        time.sleep(0.5)
    raise AssertionError(f"the warehouse never showed it; last rows of {query!r}: {rows!r}")


def test_follow_loads_new_commits_and_stops_on_sigterm(
    pg_dsn: str, slot_name: str, tmp_path: Path, pg_warehouse_dsn: str
) -> None:
    """Start ``pgcdc run --follow --every 1``; the seed, then an update, an insert and a
    delete committed while it runs, appear in the PostgreSQL warehouse; SIGTERM ends it
    with exit code 0 after the current turn."""
    p = demo_pipeline(pg_dsn, slot_name, tmp_path, pg_warehouse_dsn)
    env = {
        **os.environ,
        "PGCDC_SOURCE_DSN": p.dsn,
        "PGCDC_RAW_URI": p.raw.uri,
        "PGCDC_PROCESSED_URI": p.processed.uri,
        "PGCDC_WAREHOUSE_URI": p.warehouse_uri,
        "PGCDC_SLOT": p.slot,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgcdc.pipeline.cli", "run", "--follow", "--every", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        (seeded,) = p.source("SELECT count(*) FROM sales_order")[0]
        _wait_for(p, "SELECT count(*) FROM fact_sales_order_current", lambda r: r == [(seeded,)])
        order = p.source("SELECT min(sales_order_id) FROM sales_order")[0][0]
        p.source("UPDATE sales_order SET units_sold = 4242 WHERE sales_order_id = %s", (order,))
        p.source(
            "INSERT INTO sales_order (design_id, staff_id, counterparty_id, units_sold, "
            "unit_price, currency_id, agreed_delivery_date, agreed_payment_date, "
            "agreed_delivery_location_id, last_updated) SELECT design_id, staff_id, "
            "counterparty_id, 777, unit_price, currency_id, agreed_delivery_date, "
            "agreed_payment_date, agreed_delivery_location_id, now() FROM sales_order "
            "WHERE sales_order_id = %s",
            (order,),
        )
        (new,) = p.source("SELECT max(sales_order_id) FROM sales_order")[0]
        assert proc.poll() is None, "run --follow ended on its own"
        _wait_for(
            p,
            "SELECT sales_order_id, units_sold FROM fact_sales_order_current "
            f"WHERE sales_order_id IN ({int(order)}, {int(new)}) ORDER BY 1",
            lambda r: r == [(order, 4242), (new, 777)],
        )
        (mirror,) = p.sql(
            f'SELECT units_sold FROM "mirror_public"."sales_order" WHERE sales_order_id = {new}'
        )[0]
        assert mirror == 777
        assert proc.poll() is None, "run --follow ended on its own"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=PATIENCE)
    assert proc.returncode == 0, err
    assert "stopping after the current drain" in err
    assert "load:" in out  # one summary per turn on stdout
