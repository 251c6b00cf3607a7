"""The live workload: every change kind reaches a wal2json slot, keys stay intact, and the
summary agrees with what the slot saw."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgcdc.devtools.demo import WorkloadSummary, init_demo, run_workload
from pgcdc.schemas.errors import ConfigurationError
from tests.harness import PgServer

pytestmark = pytest.mark.integration

SCALE = 0.02
ACTIONS = {"I": "insert", "U": "update", "D": "delete"}
MUST_SEE = {
    "insert": {"sales_order", "transaction", "payment"},
    "update": {"payment", "sales_order", "staff", "address", "design", "counterparty"},
    "delete": {"payment", "transaction", "sales_order"},
}
# (table, column) → (parent table, parent key), from the reference.
FOREIGN_KEYS = {
    ("counterparty", "legal_address_id"): ("address", "address_id"),
    ("staff", "department_id"): ("department", "department_id"),
    ("sales_order", "design_id"): ("design", "design_id"),
    ("sales_order", "staff_id"): ("staff", "staff_id"),
    ("sales_order", "counterparty_id"): ("counterparty", "counterparty_id"),
    ("sales_order", "currency_id"): ("currency", "currency_id"),
    ("sales_order", "agreed_delivery_location_id"): ("address", "address_id"),
    ("purchase_order", "staff_id"): ("staff", "staff_id"),
    ("purchase_order", "counterparty_id"): ("counterparty", "counterparty_id"),
    ("purchase_order", "currency_id"): ("currency", "currency_id"),
    ("purchase_order", "agreed_delivery_location_id"): ("address", "address_id"),
    ("transaction", "sales_order_id"): ("sales_order", "sales_order_id"),
    ("transaction", "purchase_order_id"): ("purchase_order", "purchase_order_id"),
    ("payment", "transaction_id"): ("transaction", "transaction_id"),
    ("payment", "counterparty_id"): ("counterparty", "counterparty_id"),
    ("payment", "currency_id"): ("currency", "currency_id"),
    ("payment", "payment_type_id"): ("payment_type", "payment_type_id"),
}


class SlotTally:
    """Row changes a slot delivered, per (table, action), and the transactions holding them."""

    def __init__(self, rows: list[tuple[Any, str]]) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        xids: set[Any] = set()
        for xid, data in rows:
            change = json.loads(data)
            if change["action"] in ACTIONS:
                self.counts[change["table"], ACTIONS[change["action"]]] += 1
                xids.add(xid)
        self.transactions = len(xids)

    def by_table(self, action: str) -> dict[str, int]:
        return {table: n for (table, act), n in self.counts.items() if act == action}


def consume(conn: psycopg.Connection[Any], slot: str) -> SlotTally:
    """Everything the slot holds (and so acknowledge it)."""
    rows = conn.execute(
        "SELECT xid, data FROM pg_logical_slot_get_changes(%s, NULL, NULL, 'format-version', '2')",
        (slot,),
    ).fetchall()
    return SlotTally([(r[0], r[1]) for r in rows])


def orphans(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Rows whose foreign key points at nothing, per ``table.column`` (none expected)."""
    found = {}
    for (table, column), (parent, key) in FOREIGN_KEYS.items():
        query = sql.SQL(
            "SELECT count(*) FROM {child} AS c WHERE c.{column} IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE p.{key} = c.{column})"
        ).format(
            child=sql.Identifier("public", table),
            parent=sql.Identifier("public", parent),
            column=sql.Identifier(column),
            key=sql.Identifier(key),
        )
        row = conn.execute(query).fetchone()
        assert row is not None
        found[f"{table}.{column}"] = row[0]
    return found


def test_every_change_kind_reaches_the_slot(pg_dsn: str, slot_name: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot_name,))
        demo = init_demo(pg_dsn, scale=SCALE)
        seeded = consume(conn, slot_name)
        assert seeded.by_table("insert") == {t: n for t, n in demo.rows.items() if n}
        assert seeded.transactions == 1  # the whole seed is one transaction

        summary = run_workload(pg_dsn, rate=0, duration=60, max_transactions=400)
        seen = consume(conn, slot_name)

        for action, tables in MUST_SEE.items():
            assert tables <= set(seen.by_table(action)), action
        assert seen.by_table("insert") == summary.inserts
        assert seen.by_table("update") == summary.updates
        assert seen.by_table("delete") == summary.deletes
        assert seen.transactions == summary.transactions
        assert 390 <= summary.transactions <= 400  # an operation finding nothing is rare
        _assert_consistent(conn)


def _assert_consistent(conn: psycopg.Connection[Any]) -> None:
    assert set(orphans(conn).values()) == {0}
    # Cancelled orders took their transaction with them: no transaction lost its order.
    unlinked = conn.execute(
        "SELECT count(*) FROM transaction WHERE NOT ("
        "(transaction_type = 'SALE' AND sales_order_id IS NOT NULL AND purchase_order_id IS NULL)"
        " OR (transaction_type = 'PURCHASE' AND purchase_order_id IS NOT NULL"
        " AND sales_order_id IS NULL))"
    ).fetchone()
    assert unlinked == (0,)
    # An amended order's unpaid payment follows its amount.
    stale = conn.execute(
        "SELECT count(*) FROM payment p JOIN transaction t USING (transaction_id) "
        "JOIN sales_order s USING (sales_order_id) "
        "WHERE NOT p.paid AND p.payment_amount <> s.units_sold * s.unit_price"
    ).fetchone()
    assert stale == (0,)
    backwards = conn.execute(
        "SELECT count(*) FROM sales_order WHERE last_updated < created_at"
    ).fetchone()
    assert backwards == (0,)


@pytest.fixture
def twin_dsn(pg_server: PgServer) -> Iterator[str]:
    """A second fresh database on the same server."""
    name = pg_server.create_database("twin")
    yield pg_server.dsn(name)
    pg_server.drop_database(name)


def _content(dsn: str) -> list[str]:
    """Order and payment rows without the columns that depend on the clock."""
    clock = "- 'created_at' - 'last_updated' - 'agreed_delivery_date' - 'agreed_payment_date'"
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT (to_jsonb(s) " + clock + ")::text FROM sales_order s "
            "UNION ALL SELECT (to_jsonb(p) " + clock + " - 'payment_date')::text FROM payment p"
        ).fetchall()
    return sorted(r[0] for r in rows)


def test_same_seed_same_changes(pg_dsn: str, twin_dsn: str) -> None:
    summaries: list[WorkloadSummary] = []
    for dsn in (pg_dsn, twin_dsn):
        init_demo(dsn, scale=SCALE)
        summaries.append(run_workload(dsn, rate=0, duration=60, seed=11, max_transactions=150))
    first, second = summaries
    assert (first.inserts, first.updates, first.deletes, first.transactions) == (
        second.inserts,
        second.updates,
        second.deletes,
        second.transactions,
    )
    assert _content(pg_dsn) == _content(twin_dsn)


def test_rate_is_kept(pg_dsn: str) -> None:
    init_demo(pg_dsn, scale=SCALE)
    lines: list[str] = []
    summary = run_workload(pg_dsn, rate=20, duration=1.0, progress=lines.append)
    # 20 transactions are due in the first second (at 0, 0.05, ... 0.95 s).
    assert 15 <= summary.transactions <= 20
    assert 0.9 <= summary.seconds < 2.0
    assert "transactions" in summary.describe()


def test_stop_ends_the_workload_promptly(pg_dsn: str) -> None:
    init_demo(pg_dsn, scale=SCALE)
    stop = threading.Event()
    result: list[WorkloadSummary] = []
    worker = threading.Thread(
        target=lambda: result.append(run_workload(pg_dsn, rate=2, duration=60, stop=stop))
    )
    worker.start()
    time.sleep(1.2)
    stop.set()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert result and result[0].seconds < 3
    assert 1 <= result[0].transactions <= 4


def test_needs_the_demo_schema(pg_dsn: str) -> None:
    with pytest.raises(ConfigurationError, match="demo init"):
        run_workload(pg_dsn, rate=0, duration=1)
