"""The demo schema matches the totesys reference (docs: /work/shared/reference/totesys.md).

The expectation below is transcribed from the reference text, not from schema.sql, so a
mistake in schema.sql shows up here. Where the reference is silent on column position,
created_at and last_updated are expected after the listed columns.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from pgcdc.devtools.demo import init_demo

pytestmark = pytest.mark.integration

INT, TEXT, BOOL = "integer", "text", "boolean"
NUMERIC = "numeric(10,2)"
STAMP = "timestamp(3) without time zone"
NN, NULL = True, False

Column = tuple[str, str, bool]


def _table(*columns: Column) -> list[Column]:
    return [*columns, ("created_at", STAMP, NN), ("last_updated", STAMP, NN)]


EXPECTED_COLUMNS: dict[str, list[Column]] = {
    "address": _table(
        ("address_id", INT, NN),
        ("address_line_1", TEXT, NN),
        ("address_line_2", TEXT, NULL),
        ("district", TEXT, NULL),
        ("city", TEXT, NN),
        ("postal_code", TEXT, NN),
        ("country", TEXT, NN),
        ("phone", TEXT, NN),
    ),
    "counterparty": _table(
        ("counterparty_id", INT, NN),
        ("counterparty_legal_name", TEXT, NN),
        ("legal_address_id", INT, NN),
        ("commercial_contact", TEXT, NULL),
        ("delivery_contact", TEXT, NULL),
    ),
    "currency": _table(("currency_id", INT, NN), ("currency_code", "character varying(3)", NN)),
    "department": _table(
        ("department_id", INT, NN),
        ("department_name", TEXT, NN),
        ("location", TEXT, NULL),
        ("manager", TEXT, NULL),
    ),
    "design": _table(
        ("design_id", INT, NN),
        ("design_name", TEXT, NN),
        ("file_location", TEXT, NN),
        ("file_name", TEXT, NN),
    ),
    "staff": _table(
        ("staff_id", INT, NN),
        ("first_name", TEXT, NN),
        ("last_name", TEXT, NN),
        ("department_id", INT, NN),
        ("email_address", TEXT, NN),
    ),
    "sales_order": _table(
        ("sales_order_id", INT, NN),
        ("design_id", INT, NN),
        ("staff_id", INT, NN),
        ("counterparty_id", INT, NN),
        ("units_sold", INT, NN),
        ("unit_price", NUMERIC, NN),
        ("currency_id", INT, NN),
        ("agreed_delivery_date", TEXT, NN),
        ("agreed_payment_date", TEXT, NN),
        ("agreed_delivery_location_id", INT, NN),
    ),
    "purchase_order": _table(
        ("purchase_order_id", INT, NN),
        ("staff_id", INT, NN),
        ("counterparty_id", INT, NN),
        ("item_code", TEXT, NN),
        ("item_quantity", INT, NN),
        ("item_unit_price", NUMERIC, NN),
        ("currency_id", INT, NN),
        ("agreed_delivery_date", TEXT, NN),
        ("agreed_payment_date", TEXT, NN),
        ("agreed_delivery_location_id", INT, NN),
    ),
    "payment_type": _table(
        ("payment_type_id", INT, NN), ("payment_type_name", '"PaymentTypeName"', NN)
    ),
    "transaction": _table(
        ("transaction_id", INT, NN),
        ("transaction_type", '"TransactionType"', NN),
        ("sales_order_id", INT, NULL),
        ("purchase_order_id", INT, NULL),
    ),
    "payment": _table(
        ("payment_id", INT, NN),
        ("transaction_id", INT, NN),
        ("counterparty_id", INT, NN),
        ("payment_amount", NUMERIC, NN),
        ("currency_id", INT, NN),
        ("payment_type_id", INT, NN),
        ("paid", BOOL, NN),
        ("payment_date", TEXT, NN),
        ("company_ac_number", INT, NN),
        ("counterparty_ac_number", INT, NN),
    ),
}

# (table, column) → (referenced table, referenced column, ON UPDATE, ON DELETE)
CASCADE, RESTRICT, SET_NULL = "CASCADE", "RESTRICT", "SET NULL"
EXPECTED_FOREIGN_KEYS = {
    ("counterparty", "legal_address_id"): ("address", "address_id", CASCADE, RESTRICT),
    ("staff", "department_id"): ("department", "department_id", CASCADE, RESTRICT),
    ("sales_order", "design_id"): ("design", "design_id", CASCADE, RESTRICT),
    ("sales_order", "staff_id"): ("staff", "staff_id", CASCADE, RESTRICT),
    ("sales_order", "counterparty_id"): ("counterparty", "counterparty_id", CASCADE, RESTRICT),
    ("sales_order", "currency_id"): ("currency", "currency_id", CASCADE, RESTRICT),
    ("sales_order", "agreed_delivery_location_id"): ("address", "address_id", CASCADE, RESTRICT),
    ("purchase_order", "staff_id"): ("staff", "staff_id", CASCADE, RESTRICT),
    ("purchase_order", "counterparty_id"): ("counterparty", "counterparty_id", CASCADE, RESTRICT),
    ("purchase_order", "currency_id"): ("currency", "currency_id", CASCADE, RESTRICT),
    ("purchase_order", "agreed_delivery_location_id"): (
        "address",
        "address_id",
        CASCADE,
        RESTRICT,
    ),
    ("transaction", "sales_order_id"): ("sales_order", "sales_order_id", CASCADE, SET_NULL),
    ("transaction", "purchase_order_id"): (
        "purchase_order",
        "purchase_order_id",
        CASCADE,
        SET_NULL,
    ),
    ("payment", "transaction_id"): ("transaction", "transaction_id", CASCADE, RESTRICT),
    ("payment", "counterparty_id"): ("counterparty", "counterparty_id", CASCADE, RESTRICT),
    ("payment", "currency_id"): ("currency", "currency_id", CASCADE, RESTRICT),
    ("payment", "payment_type_id"): ("payment_type", "payment_type_id", CASCADE, RESTRICT),
}

EXPECTED_UNIQUE = {
    ("payment", ("transaction_id",)),
    ("transaction", ("sales_order_id",)),
    ("transaction", ("purchase_order_id",)),
}

EXPECTED_ENUMS = {
    "PaymentTypeName": ["SALES_RECEIPT", "SALES_REFUND", "PURCHASE_PAYMENT", "PURCHASE_REFUND"],
    "TransactionType": ["SALE", "PURCHASE"],
}

_ACTIONS = {"a": "NO ACTION", "r": RESTRICT, "c": CASCADE, "n": SET_NULL, "d": "SET DEFAULT"}


def _primary_key(table: str) -> str:
    return EXPECTED_COLUMNS[table][0][0]


@pytest.fixture(scope="module")
def catalog(pg_server: Any) -> Any:
    """A connection to a database seeded at a small scale, shared by this module."""
    name = pg_server.create_database("schema")
    try:
        init_demo(pg_server.dsn(name), scale=0.02)
        with psycopg.connect(pg_server.dsn(name), autocommit=True) as conn:
            yield conn
    finally:
        pg_server.drop_database(name)


def test_exactly_the_eleven_tables(catalog: psycopg.Connection[Any]) -> None:
    rows = catalog.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    ).fetchall()
    assert {r[0] for r in rows} == set(EXPECTED_COLUMNS)


@pytest.mark.parametrize("table", sorted(EXPECTED_COLUMNS))
def test_columns_types_and_nullability(catalog: psycopg.Connection[Any], table: str) -> None:
    rows = catalog.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "WHERE c.relnamespace = 'public'::regnamespace AND c.relname = %s "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (table,),
    ).fetchall()
    assert [tuple(r) for r in rows] == EXPECTED_COLUMNS[table]


@pytest.mark.parametrize("table", sorted(EXPECTED_COLUMNS))
def test_defaults_and_sequence(catalog: psycopg.Connection[Any], table: str) -> None:
    pk = _primary_key(table)
    rows = catalog.execute(
        "SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d "
        "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
        "JOIN pg_class c ON c.oid = d.adrelid "
        "WHERE c.relnamespace = 'public'::regnamespace AND c.relname = %s",
        (table,),
    ).fetchall()
    sequence = f"{table}_{pk}_seq"
    assert dict(rows) == {
        pk: f"nextval('{sequence}'::regclass)",
        "created_at": "CURRENT_TIMESTAMP",
    }  # and so no default on last_updated: the application sets it
    serial = catalog.execute("SELECT pg_get_serial_sequence(%s, %s)", (f"public.{table}", pk))
    assert serial.fetchone() == (f"public.{sequence}",)
    kind = catalog.execute(
        "SELECT data_type::text FROM pg_sequences WHERE schemaname = 'public' "
        "AND sequencename = %s",
        (sequence,),
    ).fetchone()
    assert kind == ("integer",)


def test_primary_keys(catalog: psycopg.Connection[Any]) -> None:
    rows = catalog.execute(
        "SELECT c.relname, array_agg(a.attname ORDER BY a.attnum) FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid "
        "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey) "
        "WHERE k.contype = 'p' AND k.connamespace = 'public'::regnamespace GROUP BY c.relname"
    ).fetchall()
    assert dict(rows) == {table: [_primary_key(table)] for table in EXPECTED_COLUMNS}


def test_foreign_keys_and_their_actions(catalog: psycopg.Connection[Any]) -> None:
    rows = catalog.execute(
        "SELECT c.relname, a.attname, fc.relname, fa.attname, k.confupdtype, k.confdeltype, "
        "cardinality(k.conkey) FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class fc ON fc.oid = k.confrelid "
        "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] "
        "JOIN pg_attribute fa ON fa.attrelid = k.confrelid AND fa.attnum = k.confkey[1] "
        "WHERE k.contype = 'f' AND k.connamespace = 'public'::regnamespace"
    ).fetchall()
    assert all(r[6] == 1 for r in rows), "every foreign key has a single column"
    actual = {(r[0], r[1]): (r[2], r[3], _ACTIONS[r[4]], _ACTIONS[r[5]]) for r in rows}
    assert len(rows) == len(actual)
    assert actual == EXPECTED_FOREIGN_KEYS


def test_unique_columns(catalog: psycopg.Connection[Any]) -> None:
    """Unique constraints or unique indexes: either enforces the reference's rule."""
    rows = catalog.execute(
        "SELECT c.relname, array_agg(a.attname ORDER BY a.attnum) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indisunique AND NOT i.indisprimary "
        "AND c.relnamespace = 'public'::regnamespace GROUP BY i.indexrelid, c.relname"
    ).fetchall()
    assert {(r[0], tuple(r[1])) for r in rows} == EXPECTED_UNIQUE


def test_enum_types_and_labels_in_order(catalog: psycopg.Connection[Any]) -> None:
    rows = catalog.execute(
        "SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_type t "
        "JOIN pg_enum e ON e.enumtypid = t.oid "
        "WHERE t.typnamespace = 'public'::regnamespace GROUP BY t.typname"
    ).fetchall()
    assert dict(rows) == EXPECTED_ENUMS


def test_sequences_are_exactly_the_serials(catalog: psycopg.Connection[Any]) -> None:
    rows = catalog.execute(
        "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
    ).fetchall()
    expected = {f"{table}_{_primary_key(table)}_seq" for table in EXPECTED_COLUMNS}
    assert {r[0] for r in rows} == expected
