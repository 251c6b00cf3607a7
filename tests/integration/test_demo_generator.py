"""The generated history: deterministic per seed, sized and shaped like the reference data."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgcdc.devtools.demo import DemoSummary, init_demo
from pgcdc.schemas.errors import ConfigurationError
from tests.harness import PgServer

pytestmark = pytest.mark.integration

# Primary keys by table, from the reference (not from the package under test).
PRIMARY_KEYS = {
    "address": "address_id",
    "counterparty": "counterparty_id",
    "currency": "currency_id",
    "department": "department_id",
    "design": "design_id",
    "staff": "staff_id",
    "sales_order": "sales_order_id",
    "purchase_order": "purchase_order_id",
    "payment_type": "payment_type_id",
    "transaction": "transaction_id",
    "payment": "payment_id",
}
# After 2.5 years at scale 1, per the reference.
GROWING = {
    "sales_order": 15_000,
    "purchase_order": 5_000,
    "transaction": 18_000,
    "payment": 16_000,
    "design": 600,
}
REFERENCE_SIZES = {
    "address": 30,
    "counterparty": 20,
    "currency": 3,
    "department": 8,
    "staff": 20,
    "payment_type": 4,
}
SMALL = 0.05


def content_hash(dsn: str) -> str:
    """A digest of every row of every demo table, in primary-key order."""
    digest = hashlib.sha256()
    with psycopg.connect(dsn) as conn:
        for table, pk in PRIMARY_KEYS.items():
            query = sql.SQL(
                "SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t.{pk}), '')) "
                "FROM {table} AS t"
            ).format(pk=sql.Identifier(pk), table=sql.Identifier("public", table))
            row = conn.execute(query).fetchone()
            assert row is not None
            digest.update(f"{table}:{row[0]}\n".encode())
    return digest.hexdigest()


@pytest.fixture
def other_dsn(pg_server: PgServer) -> Iterator[str]:
    """A second fresh database on the same server."""
    name = pg_server.create_database("src2")
    yield pg_server.dsn(name)
    pg_server.drop_database(name)


def test_same_seed_same_content_other_seed_other_content(pg_dsn: str, other_dsn: str) -> None:
    first = init_demo(pg_dsn, scale=SMALL, seed=42)
    second = init_demo(other_dsn, scale=SMALL, seed=42)
    assert first.rows == second.rows
    assert content_hash(pg_dsn) == content_hash(other_dsn)
    init_demo(other_dsn, scale=SMALL, seed=43, reset=True)
    assert content_hash(pg_dsn) != content_hash(other_dsn)


def test_seeding_twice_is_refused_unless_reset(pg_dsn: str) -> None:
    init_demo(pg_dsn, scale=0)
    before = content_hash(pg_dsn)
    with pytest.raises(ConfigurationError, match="already exists"):
        init_demo(pg_dsn, scale=0)
    assert content_hash(pg_dsn) == before
    summary = init_demo(pg_dsn, scale=SMALL, reset=True)
    assert summary.rows["sales_order"] > 0


def test_progress_names_every_table(pg_dsn: str) -> None:
    lines: list[str] = []
    summary = init_demo(pg_dsn, scale=0.01, progress=lines.append)
    for table, rows in summary.rows.items():
        assert f"{table}: {rows:,} rows" in lines
    assert "sales_order" in summary.describe()


def test_sequences_continue_after_the_loaded_ids(pg_dsn: str) -> None:
    init_demo(pg_dsn, scale=0.01)
    with psycopg.connect(pg_dsn) as conn:
        for table, pk in PRIMARY_KEYS.items():
            query = sql.SQL(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) > coalesce(max({pk}), 0) "
                "FROM {table}"
            ).format(pk=sql.Identifier(pk), table=sql.Identifier("public", table))
            assert conn.execute(query, (f"public.{table}", pk)).fetchone() == (True,), table


# --- At scale 1: one load shared by the checks below ---------------------------------


@pytest.fixture(scope="module")
def full(pg_server: PgServer) -> Iterator[tuple[psycopg.Connection[Any], DemoSummary]]:
    """A database seeded at scale 1 (about 55k rows; loads in a couple of seconds)."""
    name = pg_server.create_database("full")
    try:
        started = time.monotonic()
        summary = init_demo(pg_server.dsn(name), scale=1.0)
        assert time.monotonic() - started < 20, "scale 1 must load in seconds"
        with psycopg.connect(pg_server.dsn(name), autocommit=True) as conn:
            yield conn, summary
    finally:
        pg_server.drop_database(name)


def _one(conn: psycopg.Connection[Any], query: str | sql.Composed) -> Any:
    """The single value (or row) a fixed test query returns."""
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else tuple(row)


def _violations(conn: psycopg.Connection[Any], table: str, condition: str) -> int:
    """Rows of ``table`` for which the fixed test ``condition`` does not hold."""
    query = sql.SQL("SELECT count(*) FROM {} WHERE NOT ({})").format(
        sql.Identifier("public", table), sql.SQL(condition)
    )
    count: int = _one(conn, query)
    return count


def test_volumes_match_the_reference(full: tuple[psycopg.Connection[Any], DemoSummary]) -> None:
    conn, summary = full
    counts = {
        t: _one(conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("public", t)))
        for t in PRIMARY_KEYS
    }
    assert counts == dict(summary.rows)
    for table, expected in GROWING.items():
        assert abs(counts[table] - expected) <= expected * 0.1, (table, counts[table])
    for table, expected in REFERENCE_SIZES.items():
        assert counts[table] == expected, table


def test_reference_tables(full: tuple[psycopg.Connection[Any], DemoSummary]) -> None:
    conn, _ = full
    assert conn.execute(
        "SELECT currency_id, currency_code FROM currency ORDER BY 1"
    ).fetchall() == [(1, "GBP"), (2, "USD"), (3, "EUR")]
    assert conn.execute(
        "SELECT payment_type_name::text FROM payment_type ORDER BY payment_type_id"
    ).fetchall() == [
        ("SALES_RECEIPT",),
        ("SALES_REFUND",),
        ("PURCHASE_PAYMENT",),
        ("PURCHASE_REFUND",),
    ]
    departments = dict(conn.execute("SELECT department_name, location FROM department"))
    assert set(departments) == {
        "Sales", "Purchasing", "Production", "Dispatch",
        "Finance", "Facilities", "Communications", "HR",
    }  # fmt: skip
    assert set(departments.values()) == {"Manchester", "Leeds"}
    assert _one(conn, "SELECT count(DISTINCT country) FROM address") == 29
    assert _one(conn, "SELECT count(*) FROM address WHERE address_line_2 IS NULL") == 20
    assert 10 <= _one(conn, "SELECT count(*) FROM address WHERE district IS NULL") <= 20
    email = "lower(first_name || '.' || last_name || '@terrifictotes.com')"
    assert _violations(conn, "staff", f"email_address = {email}") == 0


def test_sales_orders(full: tuple[psycopg.Connection[Any], DemoSummary]) -> None:
    conn, _ = full
    checks = {
        "units_sold BETWEEN 1000 AND 100000": 0,
        "unit_price BETWEEN 2.00 AND 4.00": 0,
        # Made on weekdays in office hours only.
        "extract(isodow FROM created_at) <= 5 AND created_at::time >= '08:00' "
        "AND created_at::time < '19:00'": 0,
        "agreed_delivery_date ~ '^\\d{4}-\\d{2}-\\d{2}$' "
        "AND agreed_payment_date ~ '^\\d{4}-\\d{2}-\\d{2}$'": 0,
        "agreed_delivery_date::date - created_at::date BETWEEN 0 AND 600": 0,
        "agreed_payment_date::date - created_at::date BETWEEN 0 AND 6": 0,
        "last_updated >= created_at": 0,
        "created_at >= '2023-01-01' AND last_updated < '2025-07-01'": 0,
    }
    assert {c: _violations(conn, "sales_order", c) for c in checks} == checks
    # Delivery is agreed within a week for all but a few orders.
    far = _one(
        conn, "SELECT avg((agreed_delivery_date::date - created_at::date > 7)::int) "
        "FROM sales_order"
    )  # fmt: skip
    assert 0 < far < 0.05
    # Roughly 16 a calendar day, every weekday.
    per_day = _one(
        conn,
        "SELECT min(n), max(n) FROM (SELECT count(*) AS n FROM sales_order "
        "GROUP BY created_at::date) AS d",
    )
    assert per_day[0] >= 1 and per_day[1] <= 60


def test_purchase_orders(full: tuple[psycopg.Connection[Any], DemoSummary]) -> None:
    conn, _ = full
    checks = {
        "item_quantity BETWEEN 1 AND 999": 0,
        "item_unit_price > 0": 0,
        "agreed_delivery_date::date - created_at::date BETWEEN 0 AND 600": 0,
        "agreed_payment_date::date - created_at::date BETWEEN 0 AND 6": 0,
    }
    assert {c: _violations(conn, "purchase_order", c) for c in checks} == checks


def test_transactions_and_payments(full: tuple[psycopg.Connection[Any], DemoSummary]) -> None:
    conn, _ = full
    transaction_checks = {
        "(transaction_type = 'SALE' AND sales_order_id IS NOT NULL AND purchase_order_id IS NULL)"
        " OR (transaction_type = 'PURCHASE' AND purchase_order_id IS NOT NULL"
        " AND sales_order_id IS NULL)": 0,
        "last_updated = created_at": 0,
    }
    assert {c: _violations(conn, "transaction", c) for c in transaction_checks} == (
        transaction_checks
    )
    payment_checks = {
        # paid flips 0.5-6 days after creation, and last_updated records when
        "NOT paid OR last_updated - created_at "
        "BETWEEN interval '12 hours' AND interval '6 days'": 0,
        "paid OR last_updated = created_at": 0,
        "paid OR created_at >= '2025-06-24'": 0,  # unpaid only if not yet due to flip
        "payment_date ~ '^\\d{4}-\\d{2}-\\d{2}$'": 0,
    }
    assert {c: _violations(conn, "payment", c) for c in payment_checks} == payment_checks
    assert _one(conn, "SELECT avg(paid::int) FROM payment") > 0.95
    mismatched = _one(
        conn,
        "SELECT count(*) FROM payment p JOIN transaction t USING (transaction_id) "
        "LEFT JOIN sales_order s USING (sales_order_id) "
        "LEFT JOIN purchase_order o USING (purchase_order_id) "
        "WHERE p.payment_amount <> coalesce(s.units_sold * s.unit_price, "
        "o.item_quantity * o.item_unit_price) "
        "OR p.counterparty_id <> coalesce(s.counterparty_id, o.counterparty_id) "
        "OR p.currency_id <> coalesce(s.currency_id, o.currency_id) "
        "OR p.created_at <> t.created_at",
    )
    assert mismatched == 0


def test_sales_orders_use_designs_that_existed(
    full: tuple[psycopg.Connection[Any], DemoSummary],
) -> None:
    conn, _ = full
    late = _one(
        conn,
        "SELECT count(*) FROM sales_order s JOIN design d USING (design_id) "
        "WHERE d.created_at > s.created_at",
    )
    assert late == 0
