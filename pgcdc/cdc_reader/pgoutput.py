"""pgoutput's binary messages (protocol version 1) decoded into plain typed events.

pgoutput is the logical decoding plugin built into every PostgreSQL >= 10. Each message
is one XLogData payload of the replication stream (or one row of
``pg_logical_slot_peek_binary_changes``). :func:`decode` reads one message; it keeps no
state, so a caller pairs changes with the latest :class:`Relation` of their relation oid.

Tuple values stay as pgoutput sends them: ``None`` (null), :data:`UNCHANGED` (a TOASTed
value the change did not touch), ``str`` (the type's text output) or ``bytes`` (binary
format, only when the slot asks for it). Turning text into Arrow values is the batch
builder's job, column by column, through the one value codec (:mod:`pgcdc.cdc_reader.codec`)
that also reads the snapshot's COPY text: decoding value by value here would either
duplicate its converters or pay an Arrow array per value. Version 2's streamed
in-progress transactions are refused with a clear error. Not yet used by capture.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from pgcdc.schemas.errors import DecodeError
from pgcdc.schemas.lsn import Lsn

_INT16 = struct.Struct("!h")
_INT32 = struct.Struct("!i")
_UINT32 = struct.Struct("!I")
_INT64 = struct.Struct("!q")
_UINT64 = struct.Struct("!Q")


class _Unchanged(enum.Enum):
    UNCHANGED = "u"

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = _Unchanged.UNCHANGED
"""A TOASTed column the change left as it was: pgoutput does not send its value."""

Value = str | bytes | None | _Unchanged


@dataclass(frozen=True, slots=True)
class Begin:
    final_lsn: Lsn
    commit_ts: int  # microseconds since 2000-01-01 UTC (replication.from_pg_clock)
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    flags: int
    commit_lsn: Lsn
    end_lsn: Lsn
    commit_ts: int


@dataclass(frozen=True, slots=True)
class Origin:
    commit_lsn: Lsn
    name: str


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type_oid: int
    typmod: int
    key: bool  # part of the replica identity (flag 1)


@dataclass(frozen=True, slots=True)
class Relation:
    oid: int
    namespace: str  # '' for pg_catalog
    name: str
    replica_identity: str  # relreplident: 'd' default, 'n' nothing, 'f' full, 'i' index
    columns: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class Type:
    oid: int
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class Insert:
    relation: int
    new: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Update:
    relation: int
    new: tuple[Value, ...]
    old: tuple[Value, ...] | None = None
    old_kind: str | None = None  # 'K': the old key (key changed), 'O': the old row (FULL)


@dataclass(frozen=True, slots=True)
class Delete:
    relation: int
    old: tuple[Value, ...]
    old_kind: str  # 'K' or 'O'


@dataclass(frozen=True, slots=True)
class Truncate:
    relations: tuple[int, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True, slots=True)
class Message:
    transactional: bool
    lsn: Lsn
    prefix: str
    content: bytes


Event = Begin | Commit | Origin | Relation | Type | Insert | Update | Delete | Truncate | Message

_NAMES = {
    b"B": "Begin", b"C": "Commit", b"O": "Origin", b"R": "Relation", b"Y": "Type",
    b"I": "Insert", b"U": "Update", b"D": "Delete", b"T": "Truncate", b"M": "Message",
}  # fmt: skip
_STREAMED = {b"S": "Stream Start", b"E": "Stream Stop", b"c": "Stream Commit", b"A": "Stream Abort"}


class _Cursor:
    """Reads fields front to back; every failure names message, offset and LSN."""

    def __init__(self, data: bytes, name: str, lsn: Lsn | None) -> None:
        self.data, self.name, self.lsn, self.pos = data, name, lsn, 1

    def fail(self, problem: str, offset: int | None = None) -> DecodeError:
        at = self.pos if offset is None else offset
        lsn = str(self.lsn) if self.lsn is not None else None
        return DecodeError(f"pgoutput {self.name} message: {problem} at byte offset {at}", lsn=lsn)

    def take(self, size: int, what: str) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise self.fail(f"{what} needs {size} bytes, {len(self.data) - self.pos} left")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, shape: struct.Struct, what: str) -> int:
        value: int = shape.unpack(self.take(shape.size, what))[0]
        return value

    def byte(self, what: str) -> bytes:
        return self.take(1, what)

    def string(self, what: str) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise self.fail(f"{what}: string without its terminating zero byte")
        return self.text(self.take(end - self.pos, what), what, skip=1)

    def text(self, raw: bytes, what: str, skip: int = 0) -> str:
        try:
            value = raw.decode()
        except UnicodeDecodeError as exc:
            raise self.fail(f"{what}: not UTF-8", self.pos - len(raw) + exc.start) from None
        self.pos += skip
        return value

    def lsn_field(self, what: str) -> Lsn:
        return Lsn(self.unpack(_UINT64, what))

    def done(self) -> None:
        if self.pos != len(self.data):
            raise self.fail(f"{len(self.data) - self.pos} unexpected trailing bytes")


def decode(data: bytes | memoryview, lsn: Lsn | None = None) -> Event:
    """One pgoutput message; ``lsn`` (its XLogData start) only names where in errors."""
    data = bytes(data)
    tag = data[:1]
    if tag in _STREAMED:
        raise DecodeError(
            f"pgoutput {_STREAMED[tag]} message at byte offset 0: streamed transactions "
            "(protocol version 2) are not supported; use proto_version '1'",
            lsn=lsn,
        )
    if tag not in _NAMES:
        cursor = _Cursor(data, f"unknown {tag!r}", lsn)
        raise cursor.fail("not a pgoutput protocol version 1 message type", 0)
    cursor = _Cursor(data, _NAMES[tag], lsn)
    event = _READERS[tag](cursor)
    cursor.done()
    return event


def _begin(c: _Cursor) -> Begin:
    return Begin(c.lsn_field("final LSN"), c.unpack(_INT64, "commit time"),
                 c.unpack(_UINT32, "xid"))  # fmt: skip


def _commit(c: _Cursor) -> Commit:
    flags = c.byte("flags")[0]
    return Commit(flags, c.lsn_field("commit LSN"), c.lsn_field("end LSN"),
                  c.unpack(_INT64, "commit time"))  # fmt: skip


def _origin(c: _Cursor) -> Origin:
    return Origin(c.lsn_field("origin commit LSN"), c.string("origin name"))


def _relation(c: _Cursor) -> Relation:
    oid = c.unpack(_UINT32, "relation oid")
    namespace, name = c.string("namespace"), c.string("relation name")
    identity = c.text(c.byte("replica identity"), "replica identity")
    count = c.unpack(_INT16, "column count")
    columns = []
    for _ in range(count):
        flags = c.byte("column flags")[0]
        column_name = c.string("column name")
        type_oid = c.unpack(_UINT32, f"type oid of column {column_name}")
        typmod = c.unpack(_INT32, f"type modifier of column {column_name}")
        columns.append(Column(column_name, type_oid, typmod, key=bool(flags & 1)))
    return Relation(oid, namespace, name, identity, tuple(columns))


def _type(c: _Cursor) -> Type:
    return Type(c.unpack(_UINT32, "type oid"), c.string("namespace"), c.string("type name"))


def _insert(c: _Cursor) -> Insert:
    relation = c.unpack(_UINT32, "relation oid")
    _expect(c, b"N", "new tuple marker")
    return Insert(relation, _tuple(c))


def _update(c: _Cursor) -> Update:
    relation = c.unpack(_UINT32, "relation oid")
    marker = c.byte("tuple marker")
    old: tuple[Value, ...] | None = None
    old_kind = None
    if marker in (b"K", b"O"):
        old_kind, old = marker.decode(), _tuple(c)
        marker = c.byte("new tuple marker")
    if marker != b"N":
        raise c.fail(f"tuple marker {marker!r}, expected 'K', 'O' or 'N'", c.pos - 1)
    return Update(relation, _tuple(c), old, old_kind)


def _delete(c: _Cursor) -> Delete:
    relation = c.unpack(_UINT32, "relation oid")
    marker = c.byte("old tuple marker")
    if marker not in (b"K", b"O"):
        raise c.fail(f"old tuple marker {marker!r}, expected 'K' or 'O'", c.pos - 1)
    return Delete(relation, _tuple(c), marker.decode())


def _truncate(c: _Cursor) -> Truncate:
    count = c.unpack(_INT32, "relation count")
    options = c.byte("options")[0]
    relations = tuple(c.unpack(_UINT32, "relation oid") for _ in range(count))
    return Truncate(relations, cascade=bool(options & 1), restart_identity=bool(options & 2))


def _message(c: _Cursor) -> Message:
    flags = c.byte("flags")[0]
    lsn, prefix = c.lsn_field("message LSN"), c.string("prefix")
    content = c.take(c.unpack(_INT32, "content length"), "content")
    return Message(bool(flags & 1), lsn, prefix, content)


def _expect(c: _Cursor, marker: bytes, what: str) -> None:
    got = c.byte(what)
    if got != marker:
        raise c.fail(f"{what} {got!r}, expected {marker!r}", c.pos - 1)


def _tuple(c: _Cursor) -> tuple[Value, ...]:
    count = c.unpack(_INT16, "tuple column count")
    values: list[Value] = []
    for index in range(count):
        kind = c.byte(f"kind of column {index}")
        if kind == b"n":
            values.append(None)
        elif kind == b"u":
            values.append(UNCHANGED)
        elif kind in (b"t", b"b"):
            raw = c.take(c.unpack(_INT32, f"length of column {index}"), f"column {index}")
            values.append(c.text(raw, f"column {index}") if kind == b"t" else raw)
        else:
            raise c.fail(f"column {index}: value kind {kind!r}, expected n, u, t or b", c.pos - 1)
    return tuple(values)


_READERS: dict[bytes, Callable[[_Cursor], Event]] = {
    b"B": _begin, b"C": _commit, b"O": _origin, b"R": _relation, b"Y": _type,
    b"I": _insert, b"U": _update, b"D": _delete, b"T": _truncate, b"M": _message,
}  # fmt: skip
