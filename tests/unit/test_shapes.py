"""The capture hot path: changes known by their shape are kept as raw tokens, not parsed.

Whatever takes that path must come out exactly as parsing gives it: every recorded scenario
is decoded with shapes and without, and the Parquet files compared byte for byte.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pgcdc.cdc_reader import shape, tablebatch, transaction, wal2json
from pgcdc.cdc_reader.wal2json import ColumnarDecoder
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.tables import TableName
from pgcdc.schemas.tablespec import ColumnSpec, SpecMismatchError, TableSpec
from tests.recorded_capture import specs

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parents[1] / "fixtures" / "wal2json"
SCENARIOS = [p.stem for p in sorted(FIXTURES.glob("*.jsonl"))]
Row = tuple[str, str, str]


@cache
def rows(name: str) -> tuple[Row, ...]:
    lines = (FIXTURES / f"{name}.jsonl").read_text().splitlines()
    return tuple((r["lsn"], r["xid"], r["data"]) for r in map(json.loads, lines))


def _parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def decoded(feed: list[Row], take_every: int = 0) -> list[Any]:
    """Events, counters after every row, and every take as Parquet bytes per table."""
    decoder = ColumnarDecoder(specs().__getitem__)
    out: list[Any] = []
    for i, row in enumerate(feed, 1):
        event = decoder.feed(*row)
        out.append((type(event).__name__, getattr(event, "commit_lsn", None), decoder.rows))
        out.append((decoder.nbytes, decoder.in_transaction))
        if take_every and i % take_every == 0:
            out.append([(str(b.table), _parquet(b.data)) for b in decoder.take()])
    out.append([(str(b.table), _parquet(b.data)) for b in decoder.take()])
    return out


def _never_learn(*_: Any) -> None:
    return None


@pytest.mark.parametrize("take_every", [0, 3])
@pytest.mark.parametrize("name", SCENARIOS)
def test_shaped_changes_build_exactly_as_parsed_ones(
    name: str, take_every: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = list(rows(name)) * 3  # shapes learned on the first round serve the others
    shaped = decoded(feed, take_every)
    monkeypatch.setattr(wal2json, "learn_shape", _never_learn)
    assert decoded(feed, take_every) == shaped


@pytest.mark.parametrize("chunk", [1, 4])
def test_chunks_converted_in_the_background_join_into_the_same_table(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = list(rows("every_type")) * 3 + list(rows("basic_ops")) * 3
    whole = decoded(feed)
    monkeypatch.setattr(tablebatch, "_CHUNK_ROWS", chunk)
    assert decoded(feed) == whole


def test_the_fast_path_is_taken_and_parses_no_known_change() -> None:
    decoder = ColumnarDecoder(specs().__getitem__)
    for row in rows("basic_ops") * 2:
        decoder.feed(*row)
    orders = decoder._builders[("public", "sales_order")]
    assert decoder._shapes and orders.rows == 14
    # the second round came as tokens: only changes of the first round were parsed
    assert all(i < 7 for i in orders._parsed)


ORDERS = TableName("public", "sales_order")
BEGIN, FIRST_ORDER, SECOND_ORDER = rows("basic_ops")[0], rows("basic_ops")[3], rows("basic_ops")[4]


def _retyped(row: Row, column: str, type_text: str) -> Row:
    message = orjson.loads(row[2])
    next(c for c in message["columns"] if c["name"] == column)["type"] = type_text
    return row[0], row[1], orjson.dumps(message).decode()


def test_a_retyped_column_misses_the_shape_and_is_a_spec_mismatch() -> None:
    spec = specs()[ORDERS]
    decoder = ColumnarDecoder(specs().__getitem__)
    for row in (BEGIN, FIRST_ORDER, SECOND_ORDER):
        decoder.feed(*row)
    assert decoder._shapes
    retyped = _retyped(FIRST_ORDER, "amount", "numeric(12,4)")
    with pytest.raises(SpecMismatchError, match="numeric"):
        decoder.feed(*retyped)
    assert decoder.rows == 2  # not consumed
    columns = tuple(
        ColumnSpec(c.name, "numeric(12,4)" if c.name == "amount" else c.pg_type)
        for c in spec.columns
    )
    decoder.set_spec(TableSpec(ORDERS, columns, spec.key))
    assert not decoder._shapes  # learned under the old spec
    assert decoder.feed(*retyped) is None
    assert decoder.feed(*_retyped(SECOND_ORDER, "amount", "numeric(12,4)")) is None
    assert decoder._shapes  # learned again
    old, new = decoder.take()
    assert (old.data.num_rows, new.data.num_rows) == (2, 2)
    assert new.data.schema.field("amount").type == pa.decimal128(12, 4)


def test_a_change_written_unlike_json_writes_it_back_has_no_shape() -> None:
    raw = rows("mixed_case")[1][2]  # wal2json 2.5 writes "My Schema"."Mo od" unescaped
    message = wal2json.parse_message(raw)
    name = ("public", "Mixed Case Table")
    assert shape.learn(message, raw, specs()[TableName(*name)], name) is None
    plain = rows("basic_ops")[3][2]
    learned = shape.learn(orjson.loads(plain), plain, specs()[ORDERS], ("public", "sales_order"))
    assert learned is not None and learned.complete and learned.op == "c"
    assert learned.header == shape.header_text(plain) == ',"schema":"public","table":"sales_order"'
    assert learned.pattern.fullmatch(rows("basic_ops")[4][2])
    extra = plain.replace('"action":"I",', '"action":"I","origin":1,')
    assert (
        shape.learn(orjson.loads(extra), extra, specs()[ORDERS], ("public", "sales_order")) is None
    )


def test_begin_and_commit_are_plain_tuples_with_the_event_fields() -> None:
    decoder = ColumnarDecoder(specs().__getitem__)
    begin = decoder.feed(*BEGIN)
    assert isinstance(begin, transaction.Begin)
    assert isinstance(begin.commit_lsn, Lsn) and begin.first_lsn == Lsn.parse(BEGIN[0])
    assert begin.commit_ts.tzinfo is not None and isinstance(begin.xid, int)
    commit = decoder.feed(*rows("basic_ops")[6])
    assert isinstance(commit, transaction.Commit)
    assert (commit.xid, commit.commit_lsn, commit.commit_ts) == (
        begin.xid,
        begin.commit_lsn,
        begin.commit_ts,
    )
    # an xid the event model would coerce is coerced the same way
    quoted = BEGIN[2].replace(f'"xid":{begin.xid},', f'"xid":"{begin.xid}",')
    assert ColumnarDecoder(specs().__getitem__).feed(BEGIN[0], BEGIN[1], quoted) == begin


@pytest.mark.parametrize("name", SCENARIOS)
def test_begin_and_commit_read_from_their_text_are_what_parsing_gives(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def events() -> list[Any]:
        decoder = ColumnarDecoder(specs().__getitem__)
        return [decoder.feed(*row) for row in rows(name)]

    fast = events()
    monkeypatch.setattr(wal2json, "_BOUNDARY", re.compile("(?!)"))
    assert events() == fast
