"""Each shipped model file on small hand-written inputs: input rows → its own expected rows.

No service: the model's SQL runs in an in-memory DuckDB through the runner's own functions
(:func:`pgcdc.transformer.targets.run_sql`; for a fact :func:`pgcdc.transformer.quality.split_bad`
first, so the header's ``required`` and ``text_dates`` checks run too). The inputs have the
Arrow types capture writes (Postgres ``integer`` → int32, ``numeric(10,2)`` → decimal,
``timestamp(3)`` → timestamp[us]) and the version columns of the runner. Every expected
output is checked column by column: the names in order, then each column's values.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from pgcdc.schemas.processed import Kind
from pgcdc.transformer import quality
from pgcdc.transformer.model import Target, load_model
from pgcdc.transformer.targets import iso_4217, run_sql

pytestmark = pytest.mark.unit

INT = pa.int32()
TEXT = pa.string()
TS = pa.timestamp("us")
MONEY = pa.decimal128(10, 2)
DATE = pa.date32()
VERSION = {
    "_lsn": pa.int64(),
    "_seq": pa.int64(),
    "_commit_ts": pa.timestamp("us", tz="UTC"),
    "_deleted": pa.bool_(),
}

# the source tables' columns as captured from the demo schema (pgcdc/devtools/demo/schema.sql)
ADDRESS = {
    "address_id": INT,
    "address_line_1": TEXT,
    "address_line_2": TEXT,
    "district": TEXT,
    "city": TEXT,
    "postal_code": TEXT,
    "country": TEXT,
    "phone": TEXT,
}
PAYMENT = {
    "payment_id": INT,
    "transaction_id": INT,
    "counterparty_id": INT,
    "payment_amount": MONEY,
    "currency_id": INT,
    "payment_type_id": INT,
    "paid": pa.bool_(),
    "payment_date": TEXT,
    "company_ac_number": INT,
    "counterparty_ac_number": INT,
    "created_at": TS,
    "last_updated": TS,
}
PURCHASE_ORDER = {
    "purchase_order_id": INT,
    "staff_id": INT,
    "counterparty_id": INT,
    "item_code": TEXT,
    "item_quantity": INT,
    "item_unit_price": MONEY,
    "currency_id": INT,
    "agreed_delivery_date": TEXT,
    "agreed_payment_date": TEXT,
    "agreed_delivery_location_id": INT,
    "created_at": TS,
    "last_updated": TS,
}
SALES_ORDER = {
    "sales_order_id": INT,
    "design_id": INT,
    "staff_id": INT,
    "counterparty_id": INT,
    "units_sold": INT,
    "unit_price": MONEY,
    "currency_id": INT,
    "agreed_delivery_date": TEXT,
    "agreed_payment_date": TEXT,
    "agreed_delivery_location_id": INT,
    "created_at": TS,
    "last_updated": TS,
}
FACT_DATES = {"created_date": DATE, "last_updated_date": DATE}


def table(columns: dict[str, pa.DataType], *rows: tuple[Any, ...]) -> pa.Table:
    """Rows (tuples in the order of ``columns``) as an Arrow table of those types."""
    schema = pa.schema(list(columns.items()))
    return pa.Table.from_pylist([dict(zip(columns, r, strict=True)) for r in rows], schema)


def versions(columns: dict[str, pa.DataType], *rows: tuple[Any, ...]) -> pa.Table:
    """A fact source's new versions: the source columns, then ``_lsn``, ``_seq``,
    ``_commit_ts``, ``_deleted`` (the last four values of each row)."""
    return table({**columns, **VERSION}, *rows)


def at(lsn: int) -> dt.datetime:
    """The commit time of the transaction at ``lsn`` (one per LSN, a second apart)."""
    return dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=lsn)


@functools.cache
def _hashing() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def record_id(entity: int, lsn: int, seq: int) -> int:
    """What a fact header promises its key is: a non-negative hash of (entity id, source
    LSN, source seq), with the types the versions carry."""
    row = (
        _hashing()
        .execute("SELECT (hash(?::INTEGER, ?::BIGINT, ?::BIGINT) >> 1)::BIGINT", [entity, lsn, seq])
        .fetchone()
    )
    assert row is not None
    return int(row[0])


@dataclass(frozen=True)
class Case:
    """One model's inputs and its expected output."""

    inputs: dict[str, pa.Table]
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    order: tuple[str, ...]
    """Columns both sides are sorted by before comparing."""
    quarantined: list[tuple[int, str]] = field(default_factory=list)
    """Facts: (entity id, column) of each version the row checks refuse."""


T1 = dt.datetime(2024, 2, 29, 10, 15, 30, 123000)
T2 = dt.datetime(2024, 3, 2, 23, 59, 59)
T3 = dt.datetime(2025, 12, 31, 0, 0, 1)

CASES: dict[str, Case] = {
    "dim_counterparty": Case(
        inputs={
            "address": table(
                ADDRESS,
                (1, "1 Mill Lane", "Unit 4", "Kirkstall", "Leeds", "LS5 3AA", "UK", "0113 1"),
                (2, "9 Quay St", None, None, "Hull", "HU1 1AA", "UK", "01482 2"),
            ),
            "counterparty": table(
                {"counterparty_id": INT, "counterparty_legal_name": TEXT, "legal_address_id": INT},
                (10, "Acme Ltd", 2),
                (11, "Orphan plc", 99),  # no such address: the left join keeps it
                (12, "Kirk & Co", 1),
            ),
        },
        columns=(
            "counterparty_id",
            "counterparty_legal_name",
            "counterparty_legal_address_line_1",
            "counterparty_legal_address_line_2",
            "counterparty_legal_district",
            "counterparty_legal_city",
            "counterparty_legal_postal_code",
            "counterparty_legal_country",
            "counterparty_legal_phone_number",
        ),
        rows=[
            (10, "Acme Ltd", "9 Quay St", None, None, "Hull", "HU1 1AA", "UK", "01482 2"),
            (11, "Orphan plc", None, None, None, None, None, None, None),
            (
                12,
                "Kirk & Co",
                "1 Mill Lane",
                "Unit 4",
                "Kirkstall",
                "Leeds",
                "LS5 3AA",
                "UK",
                "0113 1",
            ),
        ],
        order=("counterparty_id",),
    ),
    "dim_currency": Case(
        inputs={
            "currency": table(
                {"currency_id": INT, "currency_code": TEXT},
                (1, "GBP"),
                (2, "eur"),  # matched in upper case
                (3, "XQQ"),  # no ISO 4217 code: no name
            ),
            "iso_4217": iso_4217(),
        },
        columns=("currency_id", "currency_code", "currency_name"),
        rows=[(1, "GBP", "Pound Sterling"), (2, "eur", "Euro"), (3, "XQQ", None)],
        order=("currency_id",),
    ),
    "dim_date": Case(
        inputs={
            "fact_sales_order": table(
                {**FACT_DATES, "agreed_payment_date": DATE, "agreed_delivery_date": DATE},
                (dt.date(2024, 2, 29), dt.date(2024, 2, 29), dt.date(2025, 12, 31), None),
            ),
            "fact_purchase_order": table(
                {**FACT_DATES, "agreed_payment_date": DATE, "agreed_delivery_date": DATE},
                (dt.date(2024, 2, 29), dt.date(2024, 3, 1), None, dt.date(2023, 7, 2)),
            ),
            "fact_payment": table(
                {**FACT_DATES, "payment_date": DATE},
                (dt.date(2024, 3, 1), dt.date(2024, 3, 1), dt.date(2025, 12, 31)),
            ),
        },
        columns=(
            "date_id",
            "year",
            "month",
            "day",
            "day_of_week",
            "day_name",
            "month_name",
            "quarter",
        ),
        rows=[
            (dt.date(2023, 7, 2), 2023, 7, 2, 7, "Sunday", "July", 3),
            (dt.date(2024, 2, 29), 2024, 2, 29, 4, "Thursday", "February", 1),
            (dt.date(2024, 3, 1), 2024, 3, 1, 5, "Friday", "March", 1),
            (dt.date(2025, 12, 31), 2025, 12, 31, 3, "Wednesday", "December", 4),
        ],
        order=("date_id",),
    ),
    "dim_design": Case(
        inputs={
            "design": table(
                {
                    "design_id": INT,
                    "design_name": TEXT,
                    "file_location": TEXT,
                    "file_name": TEXT,
                    "created_at": TS,
                },
                (7, "Granite", "/usr/share", "granite-20230101.json", T1),
                (3, "Bronze", "/private", "bronze-20221231.json", T2),
            )
        },
        columns=("design_id", "design_name", "file_location", "file_name"),
        rows=[
            (3, "Bronze", "/private", "bronze-20221231.json"),
            (7, "Granite", "/usr/share", "granite-20230101.json"),
        ],
        order=("design_id",),
    ),
    "dim_location": Case(
        inputs={
            "address": table(
                ADDRESS,
                (1, "1 Mill Lane", "Unit 4", "Kirkstall", "Leeds", "LS5 3AA", "UK", "0113 1"),
                (2, "9 Quay St", None, None, "Hull", "HU1 1AA", "UK", "01482 2"),
            )
        },
        columns=(
            "location_id",
            "address_line_1",
            "address_line_2",
            "district",
            "city",
            "postal_code",
            "country",
            "phone",
        ),
        rows=[
            (1, "1 Mill Lane", "Unit 4", "Kirkstall", "Leeds", "LS5 3AA", "UK", "0113 1"),
            (2, "9 Quay St", None, None, "Hull", "HU1 1AA", "UK", "01482 2"),
        ],
        order=("location_id",),
    ),
    "dim_payment_type": Case(
        inputs={
            "payment_type": table(
                {"payment_type_id": INT, "payment_type_name": TEXT, "last_updated": TS},
                (1, "SALES_RECEIPT", T1),
                (4, "PURCHASE_REFUND", T2),
            )
        },
        columns=("payment_type_id", "payment_type_name"),
        rows=[(1, "SALES_RECEIPT"), (4, "PURCHASE_REFUND")],
        order=("payment_type_id",),
    ),
    "dim_staff": Case(
        inputs={
            "staff": table(
                {
                    "staff_id": INT,
                    "first_name": TEXT,
                    "last_name": TEXT,
                    "department_id": INT,
                    "email_address": TEXT,
                },
                (1, "Ada", "Lovelace", 10, "ada@example.com"),
                (2, "Alan", "Turing", 99, "alan@example.com"),  # no such department
                (3, "Grace", "Hopper", 20, "grace@example.com"),
            ),
            "department": table(
                {"department_id": INT, "department_name": TEXT, "location": TEXT, "manager": TEXT},
                (10, "Mathematics", "Leeds", "Boole"),
                (20, "Navy", None, "Nimitz"),
            ),
        },
        columns=(
            "staff_id",
            "first_name",
            "last_name",
            "department_name",
            "location",
            "email_address",
        ),
        rows=[
            (1, "Ada", "Lovelace", "Mathematics", "Leeds", "ada@example.com"),
            (2, "Alan", "Turing", None, None, "alan@example.com"),
            (3, "Grace", "Hopper", "Navy", None, "grace@example.com"),
        ],
        order=("staff_id",),
    ),
    "dim_transaction": Case(
        inputs={
            "transaction": table(
                {
                    "transaction_id": INT,
                    "transaction_type": TEXT,
                    "sales_order_id": INT,
                    "purchase_order_id": INT,
                },
                (1, "SALE", 5, None),
                (2, "PURCHASE", None, 7),
            )
        },
        columns=("transaction_id", "transaction_type", "sales_order_id", "purchase_order_id"),
        rows=[(1, "SALE", 5, None), (2, "PURCHASE", None, 7)],
        order=("transaction_id",),
    ),
    "fact_payment": Case(
        inputs={
            "payment": versions(
                PAYMENT,
                (
                    1,
                    3,
                    10,
                    Decimal("12.50"),
                    1,
                    2,
                    False,
                    "2024-03-15",
                    11,
                    22,
                    T1,
                    T1,
                    100,
                    0,
                    at(100),
                    False,
                ),
                (
                    1,
                    3,
                    10,
                    Decimal("12.50"),
                    1,
                    2,
                    True,
                    "2024-03-15",
                    11,
                    22,
                    T1,
                    T2,
                    200,
                    1,
                    at(200),
                    False,
                ),
                # no amount
                (2, 4, 10, None, 1, 2, False, "2024-03-16", 11, 22, T2, T2, 200, 2, at(200), False),
                (
                    3,
                    5,
                    12,
                    Decimal("0.99"),
                    2,
                    1,
                    False,
                    "16/03/2024",
                    11,
                    22,
                    T2,
                    T2,
                    300,
                    0,
                    at(300),
                    False,
                ),  # not a date
                (
                    4,
                    6,
                    12,
                    None,
                    None,
                    1,
                    False,
                    "soon",
                    11,
                    22,
                    T2,
                    T3,
                    400,
                    0,
                    at(400),
                    True,
                ),  # a delete: not checked
            )
        },
        columns=(
            "payment_record_id",
            "payment_id",
            "created_date",
            "created_time",
            "last_updated_date",
            "last_updated_time",
            "transaction_id",
            "counterparty_id",
            "payment_amount",
            "currency_id",
            "payment_type_id",
            "paid",
            "payment_date",
            "source_lsn",
            "source_seq",
            "source_commit_ts",
            "deleted",
        ),
        rows=[
            (
                record_id(1, 100, 0),
                1,
                T1.date(),
                T1.time(),
                T1.date(),
                T1.time(),
                3,
                10,
                Decimal("12.50"),
                1,
                2,
                False,
                dt.date(2024, 3, 15),
                100,
                0,
                at(100),
                False,
            ),
            (
                record_id(1, 200, 1),
                1,
                T1.date(),
                T1.time(),
                T2.date(),
                T2.time(),
                3,
                10,
                Decimal("12.50"),
                1,
                2,
                True,
                dt.date(2024, 3, 15),
                200,
                1,
                at(200),
                False,
            ),
            (
                record_id(4, 400, 0),
                4,
                T2.date(),
                T2.time(),
                T3.date(),
                T3.time(),
                6,
                12,
                None,
                None,
                1,
                False,
                None,
                400,
                0,
                at(400),
                True,
            ),
        ],
        order=("source_lsn", "source_seq"),
        quarantined=[(2, "payment_amount"), (3, "payment_date")],
    ),
    "fact_purchase_order": Case(
        inputs={
            "purchase_order": versions(
                PURCHASE_ORDER,
                (
                    8,
                    1,
                    10,
                    "ZDOI5EA",
                    371,
                    Decimal("361.39"),
                    1,
                    "2024-03-10",
                    "2024-03-20",
                    2,
                    T1,
                    T1,
                    120,
                    0,
                    at(120),
                    False,
                ),
                (
                    9,
                    1,
                    None,
                    "ZDOI5EA",
                    5,
                    Decimal("1.00"),
                    1,
                    "2024-03-10",
                    "2024-03-20",
                    2,
                    T1,
                    T1,
                    120,
                    1,
                    at(120),
                    False,
                ),  # no counterparty
                (
                    8,
                    3,
                    10,
                    "ZDOI5EA",
                    372,
                    Decimal("361.39"),
                    2,
                    "2024-03-11",
                    "2024-13-01",
                    1,
                    T1,
                    T3,
                    250,
                    0,
                    at(250),
                    False,
                ),  # month 13: not a date
                (
                    8,
                    3,
                    10,
                    "ZDOI5EA",
                    373,
                    Decimal("361.40"),
                    2,
                    "2024-03-11",
                    "2024-03-21",
                    1,
                    T1,
                    T3,
                    260,
                    0,
                    at(260),
                    False,
                ),
            )
        },
        columns=(
            "purchase_record_id",
            "purchase_order_id",
            "created_date",
            "created_time",
            "last_updated_date",
            "last_updated_time",
            "staff_id",
            "counterparty_id",
            "item_code",
            "item_quantity",
            "item_unit_price",
            "currency_id",
            "agreed_delivery_date",
            "agreed_payment_date",
            "agreed_delivery_location_id",
            "source_lsn",
            "source_seq",
            "source_commit_ts",
            "deleted",
        ),
        rows=[
            (
                record_id(8, 120, 0),
                8,
                T1.date(),
                T1.time(),
                T1.date(),
                T1.time(),
                1,
                10,
                "ZDOI5EA",
                371,
                Decimal("361.39"),
                1,
                dt.date(2024, 3, 10),
                dt.date(2024, 3, 20),
                2,
                120,
                0,
                at(120),
                False,
            ),
            (
                record_id(8, 260, 0),
                8,
                T1.date(),
                T1.time(),
                T3.date(),
                T3.time(),
                3,
                10,
                "ZDOI5EA",
                373,
                Decimal("361.40"),
                2,
                dt.date(2024, 3, 11),
                dt.date(2024, 3, 21),
                1,
                260,
                0,
                at(260),
                False,
            ),
        ],
        order=("source_lsn", "source_seq"),
        quarantined=[(9, "counterparty_id"), (8, "agreed_payment_date")],
    ),
    "fact_sales_order": Case(
        inputs={
            "sales_order": versions(
                SALES_ORDER,
                (
                    5,
                    2,
                    1,
                    10,
                    100,
                    Decimal("2.50"),
                    1,
                    "2024-04-01",
                    "2024-04-30",
                    2,
                    T1,
                    T1,
                    130,
                    0,
                    at(130),
                    False,
                ),
                (
                    6,
                    None,
                    1,
                    10,
                    1,
                    Decimal("9.99"),
                    1,
                    "2024-04-01",
                    "2024-04-30",
                    2,
                    T1,
                    T1,
                    130,
                    1,
                    at(130),
                    False,
                ),  # no design
                (
                    5,
                    2,
                    3,
                    10,
                    90,
                    Decimal("2.75"),
                    2,
                    "2024-04-02",
                    "2024-05-01",
                    1,
                    T1,
                    T2,
                    140,
                    0,
                    at(140),
                    False,
                ),
                (
                    5,
                    2,
                    3,
                    10,
                    90,
                    Decimal("2.75"),
                    2,
                    "2024-04-02",
                    "2024-05-01",
                    1,
                    T1,
                    T2,
                    150,
                    0,
                    at(150),
                    True,
                ),
            )
        },
        columns=(
            "sales_record_id",
            "sales_order_id",
            "created_date",
            "created_time",
            "last_updated_date",
            "last_updated_time",
            "sales_staff_id",
            "counterparty_id",
            "units_sold",
            "unit_price",
            "currency_id",
            "design_id",
            "agreed_payment_date",
            "agreed_delivery_date",
            "agreed_delivery_location_id",
            "source_lsn",
            "source_seq",
            "source_commit_ts",
            "deleted",
        ),
        rows=[
            (
                record_id(5, 130, 0),
                5,
                T1.date(),
                T1.time(),
                T1.date(),
                T1.time(),
                1,
                10,
                100,
                Decimal("2.50"),
                1,
                2,
                dt.date(2024, 4, 30),
                dt.date(2024, 4, 1),
                2,
                130,
                0,
                at(130),
                False,
            ),
            (
                record_id(5, 140, 0),
                5,
                T1.date(),
                T1.time(),
                T2.date(),
                T2.time(),
                3,
                10,
                90,
                Decimal("2.75"),
                2,
                2,
                dt.date(2024, 5, 1),
                dt.date(2024, 4, 2),
                1,
                140,
                0,
                at(140),
                False,
            ),
            (
                record_id(5, 150, 0),
                5,
                T1.date(),
                T1.time(),
                T2.date(),
                T2.time(),
                3,
                10,
                90,
                Decimal("2.75"),
                2,
                2,
                dt.date(2024, 5, 1),
                dt.date(2024, 4, 2),
                1,
                150,
                0,
                at(150),
                True,
            ),
        ],
        order=("source_lsn", "source_seq"),
        quarantined=[(6, "design_id")],
    ),
}


@functools.cache
def shipped() -> dict[str, Target]:
    return {t.name: t for t in load_model()}


def test_every_shipped_model_has_a_fixture() -> None:
    assert sorted(CASES) == sorted(shipped())


def compute(con: duckdb.DuckDBPyConnection, target: Target, case: Case) -> pa.Table:
    """The target's rows from the case's inputs, as the runner computes them; a fact's
    quarantined versions are checked against the case here."""
    if target.kind != Kind.FACT:
        return run_sql(con, target, case.inputs)
    (source,) = target.source_tables()
    assert target.entity is not None
    good, bad = quality.split_bad(con, target, source, case.inputs[source.name], (target.entity,))
    refused = [(json.loads(str(b["source_key"]))[target.entity], b["column_name"]) for b in bad]
    assert sorted(refused) == sorted(case.quarantined), f"{target.name}: quarantined versions"
    return run_sql(con, target, {source.name: good})


@pytest.mark.parametrize("name", sorted(CASES))
def test_model_turns_its_inputs_into_its_expected_rows(name: str) -> None:
    target, case = shipped()[name], CASES[name]
    out = compute(duckdb.connect(), target, case)
    assert tuple(out.column_names) == case.columns, f"{name}: the output's columns"
    out = out.sort_by([(c, "ascending") for c in case.order])
    want = sorted(case.rows, key=lambda r: tuple(r[case.columns.index(c)] for c in case.order))
    for i, column in enumerate(case.columns):
        got = out.column(column).to_pylist()
        assert got == [r[i] for r in want], f"{name}: column {column}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_header_names_columns_that_exist(name: str) -> None:
    """Key, entity and incremental column are output columns; the checked columns are
    source columns (a misspelt one would check nothing)."""
    target, case = shipped()[name], CASES[name]
    outputs = set(case.columns)
    assert set(target.key) <= outputs, f"{name}: key {target.key}"
    if target.kind == Kind.FACT:
        (source,) = target.source_tables()
        inputs = set(case.inputs[source.name].column_names)
        assert target.entity in outputs and target.entity in inputs
        assert target.incremental_column in outputs, f"{name}: {target.incremental!r}"
        assert target.required and set(target.required) <= inputs, f"{name}: required"
        assert set(target.text_dates) <= inputs, f"{name}: text_dates"
    else:
        assert target.incremental, f"{name}: says what a run recomputes"
