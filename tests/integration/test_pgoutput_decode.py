"""pgoutput's real binary output, recorded from the test server, decoded exactly.

The workload covers every message type of protocol version 1: Begin, Commit, Origin,
Relation, Type, Insert, Update (plain, with the old key 'K' after a key change, with the
old row 'O' under REPLICA IDENTITY FULL), Delete ('K' and 'O'), Truncate of two tables,
transactional and non-transactional logical messages, an unchanged TOASTed column, and
ALTER TABLE add / drop / retype between changes (each a new Relation message). A second
test shows the one value codec reads pgoutput's text for every kind of the type registry
exactly as it reads wal2json's values, and keeps the NaN and ±Infinity wal2json 2.5 drops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from pgcdc.cdc_reader import pgoutput
from pgcdc.cdc_reader.codec import to_arrow
from pgcdc.cdc_reader.pgoutput import UNCHANGED, Begin, Commit, Event, Message, Relation
from pgcdc.cdc_reader.replication import pg_clock
from pgcdc.cdc_reader.wal2json import ColumnarDecoder
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.pgtypes import KINDS, column_type
from pgcdc.schemas.tables import TableName
from pgcdc.schemas.tablespec import ColumnSpec, TableSpec
from tests.fixtures.record_wal2json import EVERY_TYPE_ROWS, SETUP, peek, session, table_spec

pytestmark = pytest.mark.integration

PEEK = (
    "SELECT lsn::text, xid::text, data FROM pg_logical_slot_peek_binary_changes("
    "%s, NULL, NULL, 'proto_version', '1', 'publication_names', 'pub', 'messages', 'true'{})"
)
SCHEMA = """
CREATE TYPE mood AS ENUM ('ok', 'meh');
CREATE TABLE a (id int PRIMARY KEY, name text, big text);
ALTER TABLE a ALTER big SET STORAGE EXTERNAL;
CREATE TABLE f (id int PRIMARY KEY, v text);
ALTER TABLE f REPLICA IDENTITY FULL;
CREATE TABLE b (x int PRIMARY KEY, m mood);
CREATE PUBLICATION pub FOR TABLE a, f, b;
"""
BIG = "x" * 3000  # stored out of line (STORAGE EXTERNAL): an update leaving it is 'u'
TRANSACTIONS = [
    [
        "INSERT INTO a VALUES (1, 'one', repeat('x', 3000))",
        "INSERT INTO f VALUES (1, 'v1')",
        "INSERT INTO b VALUES (1, 'ok')",
    ],
    ["UPDATE a SET name = 'uno' WHERE id = 1"],
    ["UPDATE a SET id = 2 WHERE id = 1"],
    ["UPDATE f SET v = 'v2' WHERE id = 1"],
    ["DELETE FROM a WHERE id = 2", "DELETE FROM f WHERE id = 1"],
    ["SELECT pg_logical_emit_message(true, 'pgcdc', 'in a transaction')"],
    ["SELECT pg_logical_emit_message(false, 'pgcdc', 'outside')"],
    ["TRUNCATE a, b"],
    ["INSERT INTO a VALUES (3, 'three', NULL)"],
    ["ALTER TABLE a ADD COLUMN c numeric(10,2)"],
    ["INSERT INTO a VALUES (4, 'four', 'b', 1.5)"],
    ["ALTER TABLE a DROP COLUMN c"],
    ["INSERT INTO a VALUES (5, 'five', 'b')"],
    ["ALTER TABLE a ALTER name TYPE varchar(10)"],
    ["INSERT INTO a VALUES (6, 'six', 'b')"],
]
A = (("id", 23, -1, True), ("name", 25, -1, False), ("big", 25, -1, False))
A_RELATION = ("Relation", "a", "public", "a", "d", A)
B_RELATION = ("Relation", "b", "public", "b", "d", (("x", 23, -1, True), ("m", "mood", -1, False)))
MOOD = ("Type", "mood", "public", "mood")
EXPECTED: list[tuple[Any, ...]] = [
    ("Begin",),
    A_RELATION,
    ("Insert", "a", ("1", "one", BIG)),
    ("Relation", "f", "public", "f", "f", (("id", 23, -1, True), ("v", 25, -1, True))),
    ("Insert", "f", ("1", "v1")),
    MOOD,
    B_RELATION,
    ("Insert", "b", ("1", "ok")),
    ("Commit",),
    ("Begin",),
    ("Update", "a", ("1", "uno", UNCHANGED), None, None),
    ("Commit",),
    ("Begin",),
    ("Update", "a", ("2", "uno", UNCHANGED), ("1", None, None), "K"),
    ("Commit",),
    ("Begin",),
    ("Update", "f", ("1", "v2"), ("1", "v1"), "O"),
    ("Commit",),
    ("Begin",),
    ("Delete", "a", ("2", None, None), "K"),
    ("Delete", "f", ("1", "v2"), "O"),
    ("Commit",),
    ("Begin",),
    ("Message", True, "pgcdc", b"in a transaction"),
    ("Commit",),
    ("Message", False, "pgcdc", b"outside"),
    ("Begin",),
    A_RELATION,
    MOOD,
    B_RELATION,
    ("Truncate", ("a", "b"), False, False),
    ("Commit",),
    ("Begin",),
    A_RELATION,
    ("Insert", "a", ("3", "three", None)),
    ("Commit",),
    ("Begin",),
    ("Relation", "a", "public", "a", "d", (*A, ("c", 1700, (10 << 16) + 2 + 4, False))),
    ("Insert", "a", ("4", "four", "b", "1.50")),
    ("Commit",),
    ("Begin",),
    A_RELATION,
    ("Insert", "a", ("5", "five", "b")),
    ("Commit",),
    ("Begin",),
    ("Relation", "a", "public", "a", "d", (A[0], ("name", 1043, 10 + 4, False), A[2])),
    ("Insert", "a", ("6", "six", "b")),
    ("Commit",),
    ("Begin",),
    ("Origin", Lsn.parse("0/ABCDEF"), "elsewhere"),
    MOOD,
    B_RELATION,
    ("Insert", "b", ("2", "meh")),
    ("Commit",),
]


def plain(event: Event, names: dict[int, str]) -> tuple[Any, ...]:
    """An event with oids as names, without the positions and times checked elsewhere."""
    shape: tuple[Any, ...]
    match event:
        case pgoutput.Begin() | pgoutput.Commit():
            shape = (type(event).__name__,)
        case pgoutput.Relation(oid, namespace, name, identity, columns):
            cols = tuple((c.name, names.get(c.type_oid, c.type_oid), c.typmod, c.key)
                         for c in columns)  # fmt: skip
            shape = ("Relation", names[oid], namespace, name, identity, cols)
        case pgoutput.Type(oid, namespace, name):
            shape = ("Type", names[oid], namespace, name)
        case pgoutput.Insert(relation, new):
            shape = ("Insert", names[relation], new)
        case pgoutput.Update(relation, new, old, old_kind):
            shape = ("Update", names[relation], new, old, old_kind)
        case pgoutput.Delete(relation, old, old_kind):
            shape = ("Delete", names[relation], old, old_kind)
        case pgoutput.Truncate(relations, cascade, restart):
            shape = ("Truncate", tuple(names[r] for r in relations), cascade, restart)
        case pgoutput.Message(transactional, _, prefix, content):
            shape = ("Message", transactional, prefix, content)
        case pgoutput.Origin(lsn, name):
            shape = ("Origin", lsn, name)
        case _:
            raise AssertionError(f"unexpected event {event!r}")
    return shape


def run_workload(conn: psycopg.Connection[Any]) -> None:
    for statements in TRANSACTIONS:
        with conn.transaction():
            for statement in statements:
                conn.execute(statement)
    conn.execute("SELECT pg_replication_origin_create('elsewhere')")
    conn.execute("SELECT pg_replication_origin_session_setup('elsewhere')")
    with conn.transaction():
        conn.execute("SELECT pg_replication_origin_xact_setup('0/ABCDEF', now())")
        conn.execute("INSERT INTO b VALUES (2, 'meh')")
    conn.execute("SELECT pg_replication_origin_session_reset()")


def oid_names(conn: psycopg.Connection[Any]) -> dict[int, str]:
    rows = conn.execute(
        "SELECT oid::int8, relname::text FROM pg_class WHERE relname IN ('a', 'b', 'f')"
        " UNION ALL SELECT 'mood'::regtype::oid::int8, 'mood'"
    ).fetchall()
    return {int(oid): str(name) for oid, name in rows}


def check_transactions(rows: list[tuple[str, str, bytes]], events: list[Event], since: int) -> None:
    """Begin and Commit agree with each other, with the rows' xid and LSN and the clock."""
    begin: Begin | None = None
    for (lsn, xid, _), event in zip(rows, events, strict=True):
        if isinstance(event, Begin):
            assert begin is None
            assert event.xid == int(xid)
            assert since <= event.commit_ts <= pg_clock()
            begin = event
        elif isinstance(event, Commit):
            assert begin is not None
            assert (event.flags, event.commit_lsn, event.commit_ts) == (
                0, begin.final_lsn, begin.commit_ts
            )  # fmt: skip
            assert event.end_lsn == Lsn.parse(lsn) > event.commit_lsn
            begin = None
        elif isinstance(event, Message):
            assert event.lsn == Lsn.parse(lsn)
            assert (begin is not None) == event.transactional
        else:
            assert begin is not None, f"{event!r} outside a transaction"


def test_every_message_type_decodes_exactly(pg_dsn: str, slot_name: str) -> None:
    since = pg_clock(datetime.now(UTC) - timedelta(seconds=1))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot_name,))
        run_workload(conn)
        rows = conn.execute(PEEK.format(""), (slot_name,)).fetchall()
        binary = conn.execute(PEEK.format(", 'binary', 'true'"), (slot_name,)).fetchall()
        names = oid_names(conn)
    events = [pgoutput.decode(data, Lsn.parse(lsn)) for lsn, _, data in rows]
    assert [plain(e, names) for e in events] == EXPECTED
    check_transactions(rows, events, since)
    # binary 'true': the same first insert, its values in each type's send format
    first = next(pgoutput.decode(d) for _, _, d in binary if d[:1] == b"I")
    assert first == pgoutput.Insert(events[2].relation, (b"\0\0\0\1", b"one", BIG.encode()))  # type: ignore[union-attr]


@dataclass
class EveryType:
    """The every-type rows, recorded through a pgoutput and a wal2json slot."""

    spec: TableSpec
    pgoutput: list[tuple[str, str, bytes]]
    wal2json: list[dict[str, str]]
    relation_types: dict[str, str]  # format_type() of each Relation column's oid and typmod


def record_every_type(dsn: str, slot: str) -> EveryType:
    with session(dsn) as conn:  # the reader's settings: the plugins print values with them
        conn.execute(SETUP)
        conn.execute("ALTER TABLE every_type ADD m8 macaddr8 DEFAULT '08:00:2b:01:02:03:04:05'")
        conn.execute("CREATE PUBLICATION pub FOR TABLE every_type")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot + "w",))
        conn.execute(EVERY_TYPE_ROWS)
        rows = conn.execute(PEEK.format(""), (slot,)).fetchall()
        found = table_spec(conn, "public", "every_type")
        types = {}
        for c in relation_of(rows).columns:
            typed = conn.execute("SELECT format_type(%s, %s)", (c.type_oid, c.typmod)).fetchone()
            types[c.name] = typed[0] if typed else ""
        columns = tuple(ColumnSpec(**c) for c in found["columns"])
        spec = TableSpec(TableName("public", "every_type"), columns, tuple(found["key"]))
        return EveryType(spec, rows, peek(conn, slot + "w"), types)


def test_the_codec_reads_pgoutput_text_of_every_kind(pg_dsn: str, slot_name: str) -> None:
    every = record_every_type(pg_dsn, slot_name)
    # the Relation message alone names every column's type as the catalog spec does, but a
    # domain: pgoutput sends the domain's oid, the spec its base type (a spec built from
    # Relation messages must look up pg_type.typbasetype)
    differ = {c.name: (every.relation_types[c.name], c.pg_type) for c in every.spec.columns
              if every.relation_types[c.name] != c.pg_type}  # fmt: skip
    assert differ == {"am": ("amount", "numeric(12,2)")}
    decoder = ColumnarDecoder(lambda table: every.spec)
    for peeked in every.wal2json:
        decoder.feed(peeked["lsn"], peeked["xid"], peeked["data"])
    [batch] = decoder.take()
    events = (pgoutput.decode(data) for _, _, data in every.pgoutput)
    inserts = [e for e in events if isinstance(e, pgoutput.Insert)]
    kinds, recovered = set(), set()
    for index, column in enumerate(every.spec.columns):
        pg = column_type(column)
        kinds |= {pg.kind} | ({pg.element.kind} if pg.element else set())
        texts = [insert.new[index] for insert in inserts]
        assert all(t is None or isinstance(t, str) for t in texts)
        ours = to_arrow(texts, pg, {})
        theirs = batch.data.column(column.name).combine_chunks()
        assert ours.type == theirs.type, column.name
        for row in range(len(texts)):
            if not same(ours[row], theirs[row]):  # only where wal2json 2.5 lost NaN / ±Inf
                assert not theirs[row].is_valid, (column.name, row, ours[row], theirs[row])
                assert texts[row] in ("NaN", "Infinity", "-Infinity"), (column.name, row)
                assert kept(ours[row].as_py(), str(texts[row])), (column.name, row, ours[row])
                recovered.add((column.name, row))
    assert kinds == set(KINDS)
    assert recovered == {("f4", 1), ("f4", 2), ("f8", 1), ("f8", 2), ("nu", 1)}


def same(ours: pa.Scalar, theirs: pa.Scalar) -> bool:
    """Equal values (Arrow's equality says NaN != NaN: their printed forms then agree)."""
    return bool(ours.equals(theirs)) or repr(ours) == repr(theirs)


def kept(value: object, text: str) -> bool:
    """Whether a NaN or ±Infinity survived: as a float, or as numeric's exact text."""
    if isinstance(value, float):
        return math.isnan(value) if text == "NaN" else value == float(text)
    return value == text


def relation_of(rows: list[tuple[str, str, bytes]]) -> Relation:
    return next(e for e in (pgoutput.decode(d) for _, _, d in rows) if isinstance(e, Relation))
