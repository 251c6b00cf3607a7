"""The wal2json decoder on output recorded from PostgreSQL 15 with wal2json 2.5.

The fixtures come from ``python -m tests.fixtures.record_wal2json``; see that script for
the workload behind each file.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from pgcdc.cdc_reader.tablebatch import (
    METADATA_COLUMNS,
    NONFINITE_COLUMN,
    TableBatchBuilder,
    TxnInfo,
)
from pgcdc.cdc_reader.wal2json import (
    ChangeDecoder,
    ColumnarDecoder,
    decode_row,
    parse_message,
    spec_from_change,
)
from pgcdc.schemas.changes import Begin, Commit, Delete, Insert, Message, Truncate, Update
from pgcdc.schemas.errors import ConfigurationError, DecodeError
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.pgtypes import SOURCE_TYPES_KEY
from pgcdc.schemas.tables import TableName
from pgcdc.schemas.tablespec import ColumnSpec, SpecMismatchError, TableSpec
from tests.recorded_capture import specs

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parents[1] / "fixtures" / "wal2json"
Row = tuple[str, str, str]


@cache
def rows(name: str) -> tuple[Row, ...]:
    """One recorded scenario's peek rows."""
    lines = (FIXTURES / f"{name}.jsonl").read_text().splitlines()
    return tuple((r["lsn"], r["xid"], r["data"]) for r in map(json.loads, lines))


def events(name: str) -> list[Any]:
    """A scenario decoded into events."""
    decoder = ChangeDecoder(specs().get)
    return [decoder.decode(*row) for row in rows(name)]


def columnar(name: str) -> dict[str, pa.Table]:
    """A scenario decoded into one Arrow table per source table."""
    decoder = ColumnarDecoder(specs().__getitem__)
    for row in rows(name):
        decoder.feed(*row)
    return {str(b.table): b.data for b in decoder.take()}


def column(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist()  # type: ignore[no-any-return]


def test_every_op_kind() -> None:
    kinds = [type(e).__name__ for e in events("basic_ops")]
    assert kinds == [
        *("Begin", "Insert", "Insert", "Insert", "Insert", "Insert", "Commit"),
        *("Begin", "Update", "Commit", "Begin", "Delete", "Commit"),
        *("Begin", "Update", "Commit", "Begin", "Truncate", "Truncate", "Commit"),
    ]
    orders = columnar("basic_ops")["public.sales_order"]
    assert column(orders, "_op") == ["c", "c", "c", "u", "d", "u", "t"]


@pytest.mark.parametrize("name", ["basic_ops", "multi_table", "messages", "toast", "every_type"])
def test_commit_lsn_is_begins_nextlsn_and_the_commit_rows_position(name: str) -> None:
    begin: Begin | None = None
    for (lsn, _, _), event in zip(rows(name), events(name), strict=True):
        if isinstance(event, Begin):
            begin = event
        elif isinstance(event, Commit):
            assert begin is not None
            assert event.commit_lsn == begin.commit_lsn == Lsn.parse(lsn)
        elif not isinstance(event, Message) or event.transactional:
            assert begin is not None
            assert event.commit_lsn == begin.commit_lsn
            assert event.xid == begin.xid
            assert event.commit_ts == begin.commit_ts


def test_seq_numbers_changes_within_their_transaction_across_tables() -> None:
    seqs = [(type(e).__name__, e.seq) for e in events("multi_table") if hasattr(e, "seq")]
    assert seqs == [("Insert", 0), ("Insert", 1), ("Insert", 2), ("Update", 3), ("Delete", 4)]
    tables = columnar("multi_table")
    assert column(tables["public.customer"], "_seq") == [0, 1, 3, 4]
    assert column(tables["public.sales_order"], "_seq") == [2]
    lsns = set(
        column(tables["public.customer"], "_lsn") + column(tables["public.sales_order"], "_lsn")
    )
    assert lsns == {int(Lsn.parse(rows("multi_table")[-1][0]))}


def test_unchanged_toast_column_is_listed_not_nulled() -> None:
    update = next(e for e in events("toast") if isinstance(e, Update))
    assert update.unchanged == ("body",)
    assert "body" not in update.values
    assert update.values == {"id": 1, "counter": 1}
    table = columnar("toast")["public.toast_doc"]
    assert column(table, "_unchanged") == [None, ["body"], None, None]
    assert column(table, "body")[1] is None
    assert len(column(table, "body")[0]) == 32 * 32768


def test_replica_identity_full_supplies_the_unchanged_toast_value() -> None:
    insert, update, delete = (e for e in events("replica_full") if hasattr(e, "seq"))
    assert isinstance(update, Update)
    assert update.unchanged == ()
    assert update.values["big"] == insert.values["big"]
    # keyless FULL table: the key is every column, so the old key is the whole old row
    assert update.old_key == {**insert.values}
    assert isinstance(delete, Delete)
    assert delete.values == {**update.values}
    table = columnar("replica_full")["public.full_row"]
    assert column(table, "_unchanged") == [None, None, None]
    assert column(table, "_old_key")[1]["b"] == "one"


def test_old_key_only_when_the_key_changed() -> None:
    updates = [e for e in events("basic_ops") if isinstance(e, Update)]
    assert [u.old_key for u in updates] == [None, {"id": 3}]
    assert updates[1].values["id"] == 103
    delete = next(e for e in events("basic_ops") if isinstance(e, Delete))
    assert delete.old_key == {"id": 2}
    assert delete.values == {"id": 2}
    orders = columnar("basic_ops")["public.sales_order"]
    assert column(orders, "_old_key") == [None, None, None, None, {"id": 2}, {"id": 3}, None]
    assert orders.schema.field("_old_key").type == pa.struct([pa.field("id", pa.int64())])


def test_identity_sent_without_a_key_change_gives_no_old_key() -> None:
    # wal2json sent the old key although it did not change (row inserted in the same txn)
    update = next(e for e in events("multi_table") if isinstance(e, Update))
    assert "identity" in orjson.loads(rows("multi_table")[4][2])
    assert update.old_key is None
    by_index = [e for e in events("by_index") if isinstance(e, Update | Delete)]
    assert [e.old_key for e in by_index] == [None, {"code": "A"}, {"code": "B"}]


def test_quoted_table_column_and_type_names() -> None:
    raw = rows("mixed_case")[1][2]
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(raw)  # wal2json 2.5 writes "My Schema"."Mo od" unescaped
    message = parse_message(raw)
    assert message["columns"][2]["type"] == '"My Schema"."Mo od"'
    assert message["columns"][3]["type"] == "PaymentTypeName"
    insert = next(e for e in events("mixed_case") if isinstance(e, Insert))
    assert insert.table == TableName("public", "Mixed Case Table")
    assert insert.values == {"Id": 1, "Some Value": "x", 'quote"col': "happy", "pay": "voucher"}
    table = columnar("mixed_case")["public.Mixed Case Table"]
    assert column(table, 'quote"col') == ["happy", "happy", None]


def test_logical_messages_inside_and_outside_transactions() -> None:
    outside, inside = (e for e in events("messages") if isinstance(e, Message))
    assert (outside.transactional, outside.xid, outside.seq, outside.commit_lsn) == (
        False,
        None,
        None,
        None,
    )
    assert outside.content == "outside any transaction"
    assert inside.transactional and inside.seq == 1 and inside.prefix == "pgcdc"
    assert inside.content == 'inside, with "quotes" ✓'
    decoder = ColumnarDecoder(specs().__getitem__)
    fed = [decoder.feed(*row) for row in rows("messages")]
    names = [type(e).__name__ for e in fed]
    assert names == ["Message", "Begin", "NoneType", "Message", "Commit"]


def test_truncate_is_a_row_of_nulls() -> None:
    truncates = [e for e in events("basic_ops") if isinstance(e, Truncate)]
    assert [str(t.table) for t in truncates] == ["public.sales_order", "public.customer"]
    assert [t.seq for t in truncates] == [0, 1]
    customers = columnar("basic_ops")["public.customer"]
    last = customers.slice(customers.num_rows - 1).to_pylist()[0]
    assert last["_op"] == "t"
    assert last["id"] is None and last["name"] is None


@cache
def expected() -> list[dict[str, str | None]]:
    """The every-type rows as Postgres printed them (``column::text``)."""
    return json.loads((FIXTURES / "every_type_expected.json").read_text())  # type: ignore[no-any-return]


def _float4(text: str) -> float:
    return pa.array([float(text)], pa.float32()).to_pylist()[0]  # type: ignore[no-any-return]


# Column -> how Postgres' text of it reads as the Python value pyarrow gives back.
EXPECTED_AS = {
    "id": int, "i2": int, "i4": int, "i8": int, "b": lambda t: t == "true",
    "f4": _float4, "f8": float,
    "n10": Decimal, "n20": Decimal, "n38": Decimal, "am": Decimal, "n50": str, "nu": str,
    "t": str, "vc": str, "c": str, "e": str, "ttz": str, "j": str, "jb": str,
    "by": lambda t: bytes.fromhex(t[2:]), "u": lambda t: __import__("uuid").UUID(t),
}  # fmt: skip


def _same(decoded: Any, text: str | None, name: str) -> bool:
    if text is None:
        return decoded is None
    if text in ("NaN", "Infinity", "-Infinity"):
        return decoded is None  # wal2json 2.5 sends these as null: see the loss test
    value = EXPECTED_AS[name](text)
    if name == "c":  # char(n)::text drops the padding wal2json keeps
        return isinstance(decoded, str) and decoded.rstrip() == value
    return bool(decoded == value)


def test_every_type_scalars_match_what_postgres_printed() -> None:
    table = columnar("every_type")["public.every_type"].slice(0, 4)
    for name in EXPECTED_AS:
        decoded = column(table, name)
        texts = [row[name] for row in expected()]
        mismatches = [(d, t) for d, t in zip(decoded, texts, strict=True) if not _same(d, t, name)]
        assert not mismatches, name
    # inet's text() adds the netmask its output function (what wal2json sends) leaves out
    assert column(table, "ip") == ["192.168.0.1/24", "::1", None, None]


def test_exact_decimals_and_wide_numerics_as_text() -> None:
    table = columnar("every_type")["public.every_type"]
    assert table.schema.field("n38").type == pa.decimal128(38, 10)
    assert column(table, "n38")[:2] == [
        Decimal("9999999999999999999999999999.9999999999"),
        Decimal("-9999999999999999999999999999.9999999999"),
    ]
    assert column(table, "n20")[0] == Decimal("1234567890123456.7891")
    assert table.schema.field("nu").type == pa.string()
    assert column(table, "nu")[0] == "123456789012345678901234567890.123456789012345678901"
    assert column(table, "n50")[0] == "123456789012345678901234567890123456789012345.12345"
    assert column(table, "am")[0] == Decimal("1234567890.12")  # a domain over numeric(12,2)
    insert = next(e for e in events("every_type") if isinstance(e, Insert))
    assert insert.values["n38"] == Decimal("9999999999999999999999999999.9999999999")


def test_null_is_not_empty_string() -> None:
    table = columnar("every_type")["public.every_type"]
    assert column(table, "t")[1:3] == ["", None]
    assert column(table, "by")[1:3] == [b"", None]
    assert column(table, "ta")[1:3] == [[], None]
    assert column(table, "ta")[0] == ['a"b', "c,d", "NULL", None, "", "x\\y", " sp ", "{br}"]


def test_wal2json_25_sends_float_and_numeric_nan_and_infinity_as_null() -> None:
    """A loss of wal2json 2.5 itself, fixed by numeric-data-types-as-string in 2.6."""
    table = columnar("every_type")["public.every_type"]
    assert [row["f4"] for row in expected()] == ["1.1", "NaN", "-Infinity", "3.4028235e+38"]
    assert column(table, "f4")[1:3] == [None, None]
    assert [row["f8"] for row in expected()][1:3] == ["NaN", "Infinity"]
    assert column(table, "f8")[1:3] == [None, None]
    assert expected()[1]["nu"] == "NaN"
    assert column(table, "nu")[1] is None


def test_nan_and_infinity_inside_arrays_survive() -> None:
    table = columnar("every_type")["public.every_type"]
    floats = column(table, "fa")[0]
    assert math.isnan(floats[0]) and floats[1:] == [math.inf, -math.inf, 1.5e300]
    assert column(table, "na")[0] == [Decimal("1.50"), None, None]
    assert column(table, NONFINITE_COLUMN)[0] == [("na", "{1.50,NULL,NaN}")]
    assert column(table, NONFINITE_COLUMN)[1] is None


def test_temporal_edge_values_and_infinity() -> None:
    table = columnar("every_type")["public.every_type"]
    days = table.column("d").cast(pa.int32()).to_pylist()
    assert days[:2] == [2**31 - 1, -(2**31 - 1)]  # what DuckDB reads as ±infinity
    stamps = table.column("ts").cast(pa.int64()).to_pylist()
    assert stamps[:2] == [-(2**63 - 1), 2**63 - 1]
    assert column(table, "tm")[1].isoformat() == "00:00:00"
    assert table.column("tm").cast(pa.int64()).to_pylist()[0] == 86_400_000_000  # 24:00:00
    zoned = table.column("tz").slice(0, 3).to_pylist()
    assert [z.isoformat() for z in zoned] == [
        "2020-06-01T06:30:00+00:00",  # given as +05:30
        "2020-01-01T05:00:00+00:00",  # given in America/New_York
        "1899-12-31T23:40:28+00:00",  # Europe/Amsterdam's local mean time
    ]
    assert column(table, "iv")[:4] == [
        "14 months -3 days 14706789000 microseconds",
        "0 months -1 days -1000000 microseconds",
        "0 months 0 days 0 microseconds",
        "2136000011 months 0 days 0 microseconds",
    ]


def test_arrays_are_lists_with_null_elements() -> None:
    table = columnar("every_type")["public.every_type"]
    assert column(table, "ia")[0] == [1, None, 3]
    assert column(table, "ia2")[0] == [[1, 2], [3, None]]
    assert table.schema.field("ia2").type == pa.list_(pa.list_(pa.int32()))
    assert column(table, "bla")[0] == [True, False, None]
    assert column(table, "ba")[0] == [b"\x00\xff", None]
    assert column(table, "ea")[0] == ["card", "cash"]
    assert column(table, "iva")[0] == [
        "0 months 1 days 0 microseconds",
        "0 months 0 days -7200000000 microseconds",
    ]
    assert str(column(table, "ua")[0][0]) == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"


def test_built_table_layout_and_metadata() -> None:
    table = columnar("every_type")["public.every_type"]
    spec = specs()[TableName("public", "every_type")]
    assert table.column_names == [*spec.names, *METADATA_COLUMNS, NONFINITE_COLUMN]
    meta = {f.name: f.type for f in table.schema if f.name.startswith("_")}
    assert meta["_op"] == pa.string() and meta["_lsn"] == pa.int64()
    assert meta["_seq"] == meta["_xid"] == pa.int64()
    assert meta["_commit_ts"] == pa.timestamp("us", tz="UTC")
    assert meta["_unchanged"] == pa.list_(pa.string())
    types = json.loads(table.schema.metadata[SOURCE_TYPES_KEY])
    assert types["e"] == '"PaymentTypeName"' and types["n10"] == "numeric(10,2)"
    assert table.schema.field("e").metadata == {b"pg_type": b'"PaymentTypeName"'}
    plain = columnar("basic_ops")["public.customer"]
    assert NONFINITE_COLUMN not in plain.column_names  # only tables with DECIMAL columns


ORDERS = TableName("public", "sales_order")
BEGIN, FIRST_ORDER = rows("basic_ops")[0], rows("basic_ops")[3]


def _fed(*changes: Row) -> ColumnarDecoder:
    decoder = ColumnarDecoder(specs().__getitem__)
    decoder.feed(*BEGIN)
    for change in changes:
        decoder.feed(*change)
    return decoder


def _with_value(row: Row, name: str, raw_json: str) -> Row:
    message = orjson.loads(row[2])
    column = next(c for c in message["columns"] if c["name"] == name)
    column["value"] = "__RAW__"
    return row[0], row[1], orjson.dumps(message).decode().replace('"__RAW__"', raw_json)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ('{"action":"I",', "not JSON"),
        ("[1, 2]", "malformed"),
        ('{"action":"I","schema":"public","table":"sales_order"}', "malformed"),
        ('{"action":"X"}', "unknown wal2json action"),
    ],
)
def test_malformed_messages_name_the_lsn(data: str, match: str) -> None:
    with pytest.raises(DecodeError, match=match) as info:
        _fed(("0/ABC", "1", data))
    assert info.value.lsn == Lsn.parse("0/ABC")
    assert "lsn=0/ABC" in str(info.value)


def test_missing_field_names_the_table() -> None:
    with pytest.raises(DecodeError, match=r"malformed.*table=public\.sales_order") as info:
        _fed(("0/ABC", "1", '{"action":"I","schema":"public","table":"sales_order"}'))
    assert info.value.table == "public.sales_order"


@pytest.mark.parametrize(
    ("name", "raw", "match"),
    [
        ("customer_id", '"abc"', "int32"),
        ("customer_id", "2147483648", "int32"),
        ("customer_id", "1.5", "int32"),
        ("amount", "123456789012.5", "precision"),
        ("amount", "1.234", "exactly"),
        ("order_date", '"2026-02-30"', "date"),
        ("created_at", '"294276-12-31 23:59:59.999999+00"', "range"),
    ],
)
def test_value_that_does_not_fit_names_lsn_table_and_column(
    name: str, raw: str, match: str
) -> None:
    decoder = _fed(FIRST_ORDER, _with_value(FIRST_ORDER, name, raw))
    with pytest.raises(DecodeError, match=match) as info:
        decoder.take()
    assert (info.value.lsn, info.value.table, info.value.column) == (
        Lsn.parse(FIRST_ORDER[0]),
        "public.sales_order",
        name,
    )
    assert f"column={name}" in str(info.value)


def test_row_change_outside_a_transaction() -> None:
    decoder = ColumnarDecoder(specs().__getitem__)
    with pytest.raises(DecodeError, match="outside a transaction"):
        decoder.feed(*FIRST_ORDER)
    with pytest.raises(DecodeError, match="outside a transaction"):
        decode_row(*FIRST_ORDER)


def test_commit_must_match_its_begin() -> None:
    commit = rows("basic_ops")[9]
    with pytest.raises(DecodeError, match="does not match"):
        _fed(commit)


def _changed_spec(**types: str) -> TableSpec:
    spec = specs()[ORDERS]
    columns = tuple(ColumnSpec(c.name, types.get(c.name, c.pg_type)) for c in spec.columns)
    return TableSpec(ORDERS, columns, spec.key)


def test_unknown_column_is_a_spec_mismatch_and_nothing_is_consumed() -> None:
    narrow = TableSpec(ORDERS, specs()[ORDERS].columns[:-1], ("id",))
    decoder = ColumnarDecoder(lambda table: narrow if table == ORDERS else specs()[table])
    decoder.feed(*BEGIN)
    with pytest.raises(SpecMismatchError, match="not in the table spec") as info:
        decoder.feed(*FIRST_ORDER)
    assert info.value.column == "order_date"
    assert ("order_date", "date") in info.value.seen
    assert decoder.rows == 0
    decoder.set_spec(specs()[ORDERS])
    assert decoder.feed(*FIRST_ORDER) is None
    assert decoder.rows == 1


def test_retyped_column_is_a_spec_mismatch_and_set_spec_splits_the_batch() -> None:
    decoder = ColumnarDecoder(lambda table: _changed_spec(amount="numeric(12,4)"))
    decoder.feed(*BEGIN)
    with pytest.raises(SpecMismatchError, match="numeric"):
        decoder.feed(*FIRST_ORDER)
    decoder.set_spec(specs()[ORDERS])
    decoder.feed(*FIRST_ORDER)
    decoder.set_spec(_changed_spec(status="character varying(20)"))
    with pytest.raises(SpecMismatchError):
        decoder.feed(*rows("basic_ops")[4])
    decoder.set_spec(specs()[ORDERS])
    decoder.feed(*rows("basic_ops")[4])
    batches = decoder.take()
    assert [b.data.num_rows for b in batches] == [1, 1]
    assert [b.data.column("_seq").to_pylist() for b in batches] == [[0], [1]]


def test_insert_lacking_a_column_and_update_lacking_a_fixed_width_one() -> None:
    wide = TableSpec(ORDERS, (*specs()[ORDERS].columns, ColumnSpec("added", "integer")), ("id",))
    decoder = ColumnarDecoder(lambda table: wide)
    decoder.feed(*BEGIN)
    with pytest.raises(SpecMismatchError, match="insert lacks"):
        decoder.feed(*FIRST_ORDER)
    decoder = ColumnarDecoder(lambda table: wide)
    decoder.feed(*rows("basic_ops")[7])
    with pytest.raises(SpecMismatchError, match="cannot be TOASTed"):
        decoder.feed(*rows("basic_ops")[8])


def test_repaired_and_wide_numeric_messages_take_the_exact_path() -> None:
    raw = rows("every_type")[1][2]
    assert orjson.loads(raw)["columns"][9]["value"] != Decimal(
        "9999999999999999999999999999.9999999999"
    )  # a float: what the fast path would have stored
    assert parse_message(raw, exact=True)["columns"][9]["value"] == (
        "9999999999999999999999999999.9999999999"
    )
    decoder = ColumnarDecoder(specs().__getitem__)
    for row in rows("every_type"):
        decoder.feed(*row)
    assert decoder._exact  # the table's header is now recognised before parsing


def test_take_mid_transaction_keeps_counting() -> None:
    decoder = _fed(*rows("basic_ops")[1:4])
    assert decoder.in_transaction and decoder.rows == 3
    assert decoder.nbytes == sum(len(r[2]) for r in rows("basic_ops")[:4])
    first = decoder.take()
    assert decoder.rows == decoder.nbytes == 0
    for row in rows("basic_ops")[4:7]:
        decoder.feed(*row)
    assert not decoder.in_transaction
    second = decoder.take()
    assert [b.data.column("_seq").to_pylist() for b in first] == [[0, 1], [2]]
    assert [b.data.column("_seq").to_pylist() for b in second] == [[3, 4]]
    assert decoder.take() == []


def test_numbers_as_strings_from_wal2json_26() -> None:
    """``numeric-data-types-as-string``: numbers quoted, NaN and Infinity kept."""
    raw = FIRST_ORDER[2].replace('"value":1234.50', '"value":"NaN"')
    raw = raw.replace('"value":1}', '"value":"1"}').replace('"value":1,', '"value":"1",')
    decoder = _fed((FIRST_ORDER[0], FIRST_ORDER[1], raw))
    table = decoder.take()[0].data
    assert column(table, "amount") == [None]
    assert column(table, NONFINITE_COLUMN) == [[("amount", "NaN")]]
    assert column(table, "id") == [1] and column(table, "customer_id") == [1]


def test_builder_on_its_own_and_spec_from_change() -> None:
    message = orjson.loads(FIRST_ORDER[2])
    spec = spec_from_change(message)
    assert spec.key == ("id",) and spec.column("amount").pg_type == "numeric(10,2)"
    builder = TableBatchBuilder(spec)
    builder.add_insert(message["columns"], TxnInfo(xid=9, commit_lsn=100, commit_ts_us=0), 0, "0/1")
    builder.add_truncate(TxnInfo(xid=10, commit_lsn=200, commit_ts_us=1), 0, "0/2")
    table = builder.build()
    assert column(table, "_xid") == [9, 10] and column(table, "_lsn") == [100, 200]
    assert column(table, "amount") == [Decimal("1234.50"), None]


def test_decode_row_names_the_column_of_a_bad_value() -> None:
    begin = decode_row(*BEGIN)
    assert isinstance(begin, Begin)
    bad = _with_value(FIRST_ORDER, "customer_id", '"abc"')
    with pytest.raises(DecodeError, match="int32") as info:
        decode_row(*bad, txn=begin, seq=0, spec=specs()[ORDERS])
    assert (info.value.lsn, info.value.table, info.value.column) == (
        Lsn.parse(FIRST_ORDER[0]),
        "public.sales_order",
        "customer_id",
    )
    good = decode_row(*FIRST_ORDER, txn=begin, seq=2)
    assert isinstance(good, Insert) and good.values["amount"] == Decimal("1234.50")


def test_a_column_named_like_a_metadata_column_is_refused() -> None:
    spec = TableSpec(ORDERS, (ColumnSpec("id", "bigint"), ColumnSpec("_lsn", "text")), ("id",))
    with pytest.raises(ConfigurationError, match="_lsn"):
        TableBatchBuilder(spec)
