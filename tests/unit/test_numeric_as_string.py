"""wal2json 2.6+ sends numerics as strings (``numeric-data-types-as-string``): same contract."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from pgcdc.cdc_reader.wal2json import ColumnarDecoder
from pgcdc.schemas.tables import TableName
from pgcdc.schemas.tablespec import ColumnSpec, TableSpec

pytestmark = pytest.mark.unit

SPEC = TableSpec(
    TableName("public", "t"),
    (ColumnSpec("id", "integer"), ColumnSpec("p", "numeric(10,2)"), ColumnSpec("u", "numeric")),
    ("id",),
)
HEAD = {"xid": 1, "timestamp": "2026-11-25 18:00:00+00", "lsn": "0/10", "nextlsn": "0/20"}


def insert(row_id: int, p: str, u: str) -> str:
    columns = [
        {"name": "id", "type": "integer", "typeoid": 23, "value": row_id},
        {"name": "p", "type": "numeric(10,2)", "typeoid": 1700, "value": p},
        {"name": "u", "type": "numeric", "typeoid": 1700, "value": u},
    ]
    doc = {"action": "I", **HEAD, "schema": "public", "table": "t", "columns": columns}
    return orjson.dumps(doc).decode()


def test_string_numerics_decode_exactly_and_keep_nan() -> None:
    decoder = ColumnarDecoder(lambda table: SPEC)
    rows = [
        orjson.dumps({"action": "B", **HEAD}).decode(),
        insert(1, "12345678.91", "NaN"),
        insert(2, "NaN", "123456789012345678901234567890.123"),
        orjson.dumps({"action": "C", **HEAD}).decode(),
    ]
    for data in rows:
        decoder.feed("0/11", "1", data)
    [batch] = decoder.take()
    got = batch.data.select(["id", "p", "u", "_nonfinite"]).to_pylist()
    assert got[0] == {"id": 1, "p": Decimal("12345678.91"), "u": "NaN", "_nonfinite": None}
    assert got[1]["p"] is None and got[1]["_nonfinite"] == [("p", "NaN")]
    assert got[1]["u"] == "123456789012345678901234567890.123"
