"""Transform and load on the demo database: the warehouse equals the model applied to the source."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pycountry
import pytest

from tests.integration.warehouse_support import (
    Pipeline,
    demo_pipeline,
    warehouse_digest,
    workload,
)

pytestmark = pytest.mark.integration

# Each dimension as the reference derives it, computed on the SOURCE.
EXPECTED_DIMS = {
    "dim_staff": """SELECT s.staff_id, s.first_name, s.last_name, d.department_name, d.location,
                           s.email_address FROM staff s JOIN department d USING (department_id)""",
    "dim_location": """SELECT address_id, address_line_1, address_line_2, district, city,
                              postal_code, country, phone FROM address""",
    "dim_design": "SELECT design_id, design_name, file_location, file_name FROM design",
    "dim_counterparty": """SELECT c.counterparty_id, c.counterparty_legal_name, a.address_line_1,
            a.address_line_2, a.district, a.city, a.postal_code, a.country, a.phone
            FROM counterparty c JOIN address a ON a.address_id = c.legal_address_id""",
    "dim_transaction": """SELECT transaction_id, transaction_type::text, sales_order_id,
                                 purchase_order_id FROM transaction""",
    "dim_payment_type": "SELECT payment_type_id, payment_type_name::text FROM payment_type",
}
FACTS = {
    "fact_sales_order": "sales_order",
    "fact_purchase_order": "purchase_order",
    "fact_payment": "payment",
}
SOURCE_REVENUE = """
    SELECT a.country, so.design_id, to_char(so.created_at, 'YYYY-MM'), c.currency_code,
           sum(so.units_sold * so.unit_price)
    FROM sales_order so JOIN address a ON a.address_id = so.agreed_delivery_location_id
    JOIN currency c ON c.currency_id = so.currency_id GROUP BY 1, 2, 3, 4"""
WAREHOUSE_REVENUE = """
    SELECT l.country, f.design_id, d.year, d.month, c.currency_code,
           sum(f.units_sold * f.unit_price)
    FROM fact_sales_order_current f
    JOIN dim_location l ON l.location_id = f.agreed_delivery_location_id
    JOIN dim_currency c ON c.currency_id = f.currency_id
    JOIN dim_date d ON d.date_id = f.created_date GROUP BY 1, 2, 3, 4, 5"""


def _by_id(rows: list[tuple[Any, ...]]) -> dict[Any, tuple[Any, ...]]:
    return {r[0]: tuple(r) for r in rows}


def assert_warehouse_matches_source(p: Pipeline) -> None:
    for dim, query in EXPECTED_DIMS.items():
        want = _by_id(p.source(query))
        got = _by_id(p.sql(f"SELECT * FROM {dim}"))
        assert {k: got.get(k) for k in want} == want, dim
    currencies = p.source("SELECT currency_id, currency_code FROM currency")
    want_cur = {i: (i, c, pycountry.currencies.get(alpha_3=c).name) for i, c in currencies}
    assert _by_id(p.sql("SELECT * FROM dim_currency")) == want_cur
    for fact, table in FACTS.items():
        (want_n,) = p.source(f"SELECT count(*) FROM {table}")[0]
        (got_n,) = p.sql(f"SELECT count(*) FROM {fact}_current")[0]
        assert got_n == want_n, fact
    want_rev = {r[:4]: r[4] for r in p.source(SOURCE_REVENUE)}
    got_rev = {(r[0], r[1], f"{r[2]}-{r[3]:02d}", r[4]): r[5] for r in p.sql(WAREHOUSE_REVENUE)}
    assert got_rev == want_rev
    assert all(isinstance(v, Decimal) for v in got_rev.values())


def test_warehouse_equals_model_of_source(
    pg_dsn: str, slot_name: str, tmp_path: Path, warehouse_uri: str
) -> None:
    """Seed + workload, two cycles (so state carries across runs); dims, current fact
    versions and revenue by country, design, month and currency match the source exactly."""
    p = demo_pipeline(pg_dsn, slot_name, tmp_path, warehouse_uri)
    workload(p, 1.0, seed=5)
    p.cycle()
    workload(p, 1.0, seed=6)
    p.cycle()
    assert_warehouse_matches_source(p)
    (versions,) = p.sql("SELECT count(*) FROM fact_sales_order")[0]
    (current,) = p.sql("SELECT count(*) FROM fact_sales_order_current")[0]
    assert versions > current  # amended and cancelled orders kept their history
    (mirror,) = p.sql('SELECT count(*) FROM "mirror_public"."sales_order"')[0]
    assert mirror == current


def test_history_of_orders_and_a_renamed_department(
    pg_dsn: str, slot_name: str, tmp_path: Path
) -> None:
    """An update adds a fact version, the current view shows it; a delete is marked and
    leaves the current view; a department rename reaches dim_staff of its staff."""
    p = demo_pipeline(pg_dsn, slot_name, tmp_path)
    p.cycle()
    order, payment_tx = p.source(
        "SELECT so.sales_order_id, t.transaction_id FROM sales_order so "
        "JOIN transaction t USING (sales_order_id) ORDER BY 1 LIMIT 1"
    )[0]
    kept = p.source("SELECT max(sales_order_id) FROM sales_order")[0][0]
    (dept,) = p.source("SELECT department_id FROM staff ORDER BY staff_id LIMIT 1")[0]
    p.source("UPDATE sales_order SET units_sold = 4242 WHERE sales_order_id = %s", (kept,))
    p.source("DELETE FROM payment WHERE transaction_id = %s", (payment_tx,))
    p.source("DELETE FROM transaction WHERE transaction_id = %s", (payment_tx,))
    p.source("DELETE FROM sales_order WHERE sales_order_id = %s", (order,))
    p.source("UPDATE department SET department_name = 'Renamed' WHERE department_id = %s", (dept,))
    p.cycle()
    versions = p.sql(
        f"SELECT units_sold, deleted FROM fact_sales_order "
        f"WHERE sales_order_id = {int(kept)} ORDER BY source_lsn"
    )
    assert len(versions) == 2 and versions[-1] == (4242, False)
    assert p.sql(
        f"SELECT units_sold FROM fact_sales_order_current WHERE sales_order_id = {int(kept)}"
    ) == [(4242,)]
    gone = p.sql(
        f"SELECT deleted FROM fact_sales_order WHERE sales_order_id = {int(order)} "
        "ORDER BY source_lsn"
    )
    assert gone[-1] == (True,)
    assert p.sql(
        f"SELECT count(*) FROM fact_sales_order_current WHERE sales_order_id = {int(order)}"
    ) == [(0,)]
    staff = {r[0] for r in p.source("SELECT staff_id FROM staff WHERE department_id = %s", (dept,))}
    renamed = {
        r[0] for r in p.sql("SELECT staff_id FROM dim_staff WHERE department_name = 'Renamed'")
    }
    assert renamed == staff and staff


def test_replays_and_a_crash_before_commit_change_nothing(
    pg_dsn: str, slot_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Transform + load twice, and a load that died after the processed objects were written
    but before the warehouse committed, leave every table identical: no duplicate facts."""
    p = demo_pipeline(pg_dsn, slot_name, tmp_path)
    workload(p, 1.0, seed=8)
    p.cycle()
    clean = warehouse_digest(p)
    assert p.transform().run is None and p.load().batches == 0
    assert warehouse_digest(p) == clean
    workload(p, 0.5, seed=9)
    p.capture()
    assert p.transform().run == 2
    from pgcdc.warehouse_loader import statements

    def boom(*args: object, **kwargs: object) -> str:
        raise RuntimeError("crash before commit")

    monkeypatch.setattr(statements, "current_view", boom)
    with pytest.raises(RuntimeError):
        p.load()
    assert warehouse_digest(p) == clean  # the batch's transaction was rolled back whole
    monkeypatch.undo()
    assert p.load().batches == 1
    after = warehouse_digest(p)
    assert p.load().batches == 0 and warehouse_digest(p) == after
    dup = p.sql(
        "SELECT sales_order_id, source_lsn, source_seq, count(*) FROM fact_sales_order "
        "GROUP BY 1, 2, 3 HAVING count(*) > 1"
    )
    assert dup == []
    assert_warehouse_matches_source(p)


def test_bad_date_is_quarantined_and_the_rest_loads(
    pg_dsn: str, slot_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """agreed_delivery_date = 'not-a-date': quarantined with its reason, one ERROR line naming
    table, key and column; every other row of the batch loads."""
    p = demo_pipeline(pg_dsn, slot_name, tmp_path)
    bad = p.source("SELECT max(sales_order_id) FROM sales_order")[0][0]
    p.source(
        "UPDATE sales_order SET agreed_delivery_date = 'not-a-date' WHERE sales_order_id = %s",
        (bad,),
    )
    with caplog.at_level(logging.ERROR, logger="pgcdc"):
        p.cycle()
    rows = p.sql("SELECT source_table, source_key, column_name, reason, bad_value FROM quarantine")
    assert rows == [
        (
            "public.sales_order",
            f'{{"sales_order_id": {bad}}}',
            "agreed_delivery_date",
            "not a date (YYYY-MM-DD)",
            "not-a-date",
        )
    ]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(
        "public.sales_order" in m and str(bad) in m and "agreed_delivery_date" in m for m in errors
    )
    (n,) = p.source("SELECT count(*) FROM sales_order")[0]
    (versions,) = p.sql("SELECT count(*) FROM fact_sales_order")[0]
    assert versions == n  # the insert version of the bad order loaded; only the update did not
