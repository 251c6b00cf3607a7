"""wal2json format-version 2 output -> change events, or straight into Arrow columns.

Pure: no connection. Input is what ``pg_logical_slot_peek_changes`` returns, row by row:
``(lsn, xid, data)``, with :data:`PLUGIN_OPTIONS` and a session set to
:data:`SESSION_SETTINGS`. Two ways through:

- :func:`decode_row` / :class:`ChangeDecoder`: one frozen pydantic event per row, values as
  Python objects; for tests, tools and anything not on the hot path.
- :class:`ColumnarDecoder`: the capture hot loop; row changes go into one
  :class:`~pgcdc.cdc_reader.tablebatch.TableBatchBuilder` per table without a per-change object,
  and :meth:`ColumnarDecoder.take` hands out Arrow tables in the raw store's layout.

What wal2json 2.5 does, as recorded in ``tests/fixtures/wal2json``:

- ``B`` carries the commit record's start (``lsn``) and end (``nextlsn``); the ``C`` row's
  peek ``lsn`` is that end, the position the slot advances to.
- Numerics, reals and doubles are bare JSON numbers, integers too; NaN and ±Infinity of
  numeric, real and double precision all become JSON ``null`` (lost: indistinguishable from
  NULL). Numbers are read exactly: see :func:`parse_message`.
- A quoted type name is written into the JSON as it is: ``"PaymentTypeName"`` reads back
  unquoted, and a schema-qualified quoted name (``"My Schema"."Mood"``) makes the whole
  message invalid JSON; :func:`parse_message` repairs that.
- bytea is hex without its ``\\x`` (wal2json cuts two characters, whatever
  ``bytea_output`` is: with ``escape`` the value is corrupted, hence ``hex`` here).
- An update omits unchanged TOASTed columns; under REPLICA IDENTITY FULL its ``identity``
  holds the whole old row, TOASTed values included.
- A domain column's value is a JSON string whatever the base type (the type oid is the
  domain's); with ``include-domain-data-type`` its ``type`` is the base type with typmod.
- A non-transactional logical message arrives outside any B/C pair, xid and timestamp null.
- A table with neither a primary key nor REPLICA IDENTITY FULL/INDEX loses its updates and
  deletes (wal2json skips them with a server WARNING).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from pgcdc.cdc_reader import transaction
from pgcdc.cdc_reader.codec import PgValueError, parse_timestamp, to_python
from pgcdc.cdc_reader.shape import Shape, header_text
from pgcdc.cdc_reader.shape import learn as learn_shape
from pgcdc.cdc_reader.tablebatch import TableBatch, TableBatchBuilder, TxnInfo
from pgcdc.schemas.changes import Begin, Change, Commit, Delete, Insert, Message, Truncate, Update
from pgcdc.schemas.errors import DecodeError
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.pgtypes import KINDS, column_type
from pgcdc.schemas.tables import TableName
from pgcdc.schemas.tablespec import ColumnSpec, TableSpec

SESSION_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO",
    "IntervalStyle": "iso_8601",
    "extra_float_digits": "3",
    "bytea_output": "hex",
}
"""Settings of the session that peeks: wal2json prints values with the session's output
functions, and the parsers of :mod:`pgcdc.cdc_reader.codec` expect exactly these forms."""

PLUGIN_OPTIONS = (
    ("format-version", "2"),
    ("include-xids", "1"),
    ("include-timestamp", "1"),
    ("include-lsn", "1"),
    ("include-pk", "1"),
    ("include-types", "1"),
    ("include-type-oids", "1"),
    ("include-typmod", "1"),
    ("include-domain-data-type", "1"),
    ("include-transaction", "1"),
)
"""wal2json options this decoder expects (add ``numeric-data-types-as-string`` from 2.6)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_ROW_ACTIONS = frozenset("IUDT")
_HEADER_SPAN = 512  # where a change's schema and table are; a longer header: parsed twice
# numeric and real (the registry's number_text kinds) by their type oids
_EXACT_MARKERS = tuple(
    f'"typeoid":{oid},"value":'
    for oid in sorted({oid for kind in KINDS.values() if kind.number_text for oid in kind.oids})
)
_NUMBER = re.compile(r"-?[0-9][0-9.eE+-]*")
_TYPE_TEXT = re.compile(r',"type":(.*?),"typeoid":')
_MAX_SHAPES = 32  # shapes learned, or tried in vain, per table: a table has a few
# BEGIN and COMMIT as wal2json writes them with PLUGIN_OPTIONS: read without parsing
_BOUNDARY = re.compile(
    r'\{"action":"([BC])","xid":(0|[1-9][0-9]{0,19}+),"timestamp":"([^"\\\x00-\x1f]*+)",'
    r'"lsn":"[0-9A-F]{1,8}+/[0-9A-F]{1,8}+","nextlsn":"([0-9A-F]{1,8}+/[0-9A-F]{1,8}+)"\}'
)
_BOUNDARY_ACTIONS = frozenset("BC")

Event = transaction.Begin | transaction.Commit | Message
"""What :meth:`ColumnarDecoder.feed` returns for a row that is not a row change."""


def parse_message(
    data: str | bytes, *, exact: bool = False, lsn: str | None = None
) -> dict[str, Any]:
    """One wal2json message as a dict.

    With ``exact``, numeric and real values arrive as their JSON text (a str), so no digit
    is lost to a float; otherwise they are floats (exact for numerics of up to 15 digits).
    A message wal2json made invalid by a quoted, schema-qualified type name is repaired.
    """
    text = data if isinstance(data, str) else data.decode()
    if exact:
        text = _quote_numbers(text)
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        # Invalid type text, or a number too wide for a double: both have a remedy.
        repaired = _repair_type_text(_quote_numbers(text))
        try:
            message = orjson.loads(repaired)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(f"not JSON: {exc}", lsn=lsn) from None
    if not isinstance(message, dict):
        raise DecodeError("not a JSON object", lsn=lsn)
    return message


def _quote_numbers(text: str) -> str:
    """Turn numeric and real JSON numbers into strings holding the same digits."""
    for marker in _EXACT_MARKERS:
        if marker not in text:
            continue
        parts = text.split(marker)
        for i in range(1, len(parts)):
            match = _NUMBER.match(parts[i])
            if match:
                end = match.end()
                parts[i] = f'"{parts[i][:end]}"{parts[i][end:]}'
        text = marker.join(parts)
    return text


def _repair_type_text(text: str) -> str:
    def quote(match: re.Match[str]) -> str:
        raw = match.group(1)
        try:
            if isinstance(orjson.loads(raw), str):
                return match.group(0)
        except orjson.JSONDecodeError:
            pass
        return f',"type":{orjson.dumps(raw).decode()},"typeoid":'

    return _TYPE_TEXT.sub(quote, text)


def commit_timestamp(text: str) -> datetime:
    """wal2json's transaction timestamp (``2026-11-25 18:00:00.123+00``) as UTC datetime."""
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:  # not ISO 8601 after all: the slower parser says why
        return _EPOCH + timedelta(microseconds=parse_timestamp(text))


def _lsn(text: str) -> Lsn:
    """``X/Y`` as an Lsn, without the general parser's regular expression."""
    high, slash, low = text.partition("/")
    if not slash:
        raise ValueError(f"not an LSN: {text!r}")
    return Lsn((int(high, 16) << 32) | int(low, 16))


def spec_from_change(message: dict[str, Any]) -> TableSpec:
    """A table spec from what one change says of its table.

    Complete for an insert; an update may lack unchanged TOAST columns and a delete under
    REPLICA IDENTITY DEFAULT has only the key. The key is the primary key (``pk``) or else
    the identity's columns.
    """
    columns = message.get("columns") or message.get("identity") or []
    key = [c["name"] for c in message.get("pk") or message.get("identity") or []]
    return TableSpec(
        TableName(message["schema"], message["table"]),
        tuple(ColumnSpec(c["name"], c["type"]) for c in columns),
        tuple(key),
    )


def decode_row(
    lsn: str,
    xid: str,
    data: str | bytes,
    *,
    txn: Begin | None = None,
    seq: int = 0,
    spec: TableSpec | None = None,
) -> Change:
    """One peek row as a change event.

    A row change needs the :class:`Begin` of its transaction (``txn``) and its position in
    it (``seq``). Without ``spec`` the table is described by the change itself, so an
    update cannot tell which TOASTed columns it left out (``unchanged`` stays empty).
    ``xid`` is the peek row's own column, taken for the row's shape: the JSON's xid is
    used (the peek column says ``0`` for a non-transactional message, the JSON null).
    """
    message = parse_message(data, exact=True, lsn=lsn)
    try:
        return _decode_event(message, lsn, txn, seq, spec)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, DecodeError):
            raise
        raise DecodeError(
            f"malformed wal2json message: {exc!r}", lsn=lsn, table=_table_text(message)
        ) from None


def _decode_event(
    message: dict[str, Any], lsn: str, txn: Begin | None, seq: int, spec: TableSpec | None
) -> Change:
    action = message["action"]
    if action == "B":
        return _begin(message, lsn)
    if action == "C":
        return _commit(message)
    if action == "M":
        return _message(message, lsn, txn, seq)
    if action not in ("I", "U", "D", "T"):
        raise DecodeError(f"unknown wal2json action {action!r}", lsn=lsn)
    if txn is None:
        raise DecodeError("row change outside a transaction", lsn=lsn)
    return _row_event(message, lsn, txn, seq, spec or spec_from_change(message))


def _begin(message: dict[str, Any], lsn: str) -> Begin:
    return Begin(
        xid=message["xid"],
        first_lsn=Lsn.parse(lsn),
        commit_lsn=Lsn.parse(message["nextlsn"]),
        commit_ts=commit_timestamp(message["timestamp"]),
    )


def _commit(message: dict[str, Any]) -> Commit:
    return Commit(
        xid=message["xid"],
        commit_lsn=Lsn.parse(message["nextlsn"]),
        commit_ts=commit_timestamp(message["timestamp"]),
    )


def _message(
    message: dict[str, Any], lsn: str, txn: Begin | transaction.Begin | None, seq: int
) -> Message:
    transactional = bool(message["transactional"])
    inside = txn if transactional else None
    return Message(
        lsn=Lsn.parse(lsn),
        transactional=transactional,
        prefix=message["prefix"],
        content=message["content"],
        xid=inside.xid if inside else None,
        commit_lsn=inside.commit_lsn if inside else None,
        seq=seq if inside else None,
        commit_ts=inside.commit_ts if inside else None,
    )


def _row_event(
    message: dict[str, Any], lsn: str, txn: Begin, seq: int, spec: TableSpec
) -> Insert | Update | Delete | Truncate:
    builder = TableBatchBuilder(spec)
    info = TxnInfo(txn.xid, int(txn.commit_lsn), 0)
    _add(builder, message, info, seq, lsn)
    common: dict[str, Any] = {
        "lsn": Lsn.parse(lsn),
        "xid": txn.xid,
        "commit_lsn": txn.commit_lsn,
        "seq": seq,
        "commit_ts": txn.commit_ts,
        "table": spec.table,
    }
    if message["action"] == "T":
        return Truncate(**common)
    row, unchanged, old_key = builder.last_change()
    sent = {c["name"] for c in message.get("columns") or message.get("identity") or []}
    values = _python_values(spec, row, sent | _filled(message, unchanged), lsn)
    key = _python_values(spec, _key_row(spec, old_key), set(spec.key), lsn) if old_key else None
    if message["action"] == "I":
        return Insert(values=values, **common)
    if message["action"] == "U":
        return Update(values=values, unchanged=tuple(unchanged), old_key=key, **common)
    return Delete(values=values, old_key=key or {}, **common)


def _filled(message: dict[str, Any], unchanged: list[str]) -> set[str]:
    """Columns an update left out but its FULL old row supplied."""
    identity = {c["name"] for c in message.get("identity") or []}
    return {c for c in identity if c not in unchanged}


def _key_row(spec: TableSpec, old_key: list[Any]) -> list[Any]:
    row: list[Any] = [None] * len(spec.columns)
    for name, value in zip(spec.key, old_key, strict=True):
        row[spec.names.index(name)] = value
    return row


def _python_values(spec: TableSpec, row: list[Any], names: set[str], lsn: str) -> dict[str, Any]:
    values = {}
    for column, value in zip(spec.columns, row, strict=True):
        if column.name in names:
            try:
                values[column.name] = to_python(value, column_type(column))
            except PgValueError as exc:
                table = str(spec.table)
                raise DecodeError(str(exc), lsn=lsn, table=table, column=column.name) from None
    return values


def _add(
    builder: TableBatchBuilder, message: dict[str, Any], txn: TxnInfo, seq: int, lsn: str
) -> None:
    action = message["action"]
    if action == "I":
        builder.add_insert(message["columns"], txn, seq, lsn)
    elif action == "U":
        builder.add_update(message["columns"], message.get("identity"), txn, seq, lsn)
    elif action == "D":
        builder.add_delete(message["identity"], txn, seq, lsn)
    else:
        builder.add_truncate(txn, seq, lsn)


class ChangeDecoder:
    """Decodes peek rows in order into events, keeping track of the open transaction.

    ``specs`` gives a table's spec (None: describe the table from the change itself).
    """

    def __init__(self, specs: Callable[[TableName], TableSpec | None] | None = None) -> None:
        self._specs = specs
        self._begin: Begin | None = None
        self._seq = 0

    def decode(self, lsn: str, xid: str, data: str | bytes) -> Change:
        """The next row's event."""
        spec = None
        if self._specs is not None and self._begin is not None:
            table = _table_of(parse_message(data, lsn=lsn))
            spec = self._specs(table) if table else None
        event = decode_row(lsn, xid, data, txn=self._begin, seq=self._seq, spec=spec)
        if isinstance(event, Begin):
            self._begin, self._seq = event, 0
        elif isinstance(event, Commit):
            self._begin = None
        elif self._begin is not None and not (isinstance(event, Message) and event.seq is None):
            self._seq += 1
        return event


def _table_text(message: Any) -> str | None:
    """``schema.table`` of a (possibly malformed) message, for error messages."""
    if isinstance(message, dict) and "table" in message:
        return f"{message.get('schema')}.{message.get('table')}"
    return None


def _table_of(message: dict[str, Any]) -> TableName | None:
    if "table" not in message:
        return None
    return TableName(message["schema"], message["table"])


@functools.cache
def _background() -> ThreadPoolExecutor:
    """The thread builders convert finished chunks of rows on (Arrow releases the GIL)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="pgcdc-convert")


# A forked child has the executor but not its thread: it makes its own.
os.register_at_fork(after_in_child=_background.cache_clear)


class ColumnarDecoder:
    """The capture hot loop: peek rows in, per-table Arrow tables out.

    :meth:`feed` takes every row in order. Row changes go into one builder per table
    (``specs`` supplies a table's spec the first time it appears); ``B``, ``C`` and ``M`` rows
    come back as events so the caller sees where transactions begin and end (``B`` and
    ``C`` as the plain tuples of :mod:`pgcdc.cdc_reader.transaction`). :meth:`take` builds and
    hands out everything gathered so far, at any point: a large transaction may span
    several takes.

    Once a table's change of some kind (action, columns sent) has been parsed and
    accepted, its :class:`~pgcdc.cdc_reader.shape.Shape` is known, and a later change whose text
    matches it is stored as the raw tokens of its values without being parsed.

    A change that does not fit its table's spec raises
    :class:`~pgcdc.schemas.tablespec.SpecMismatchError` and is not consumed: the caller refreshes
    the spec with :meth:`set_spec` and feeds the same row again.
    """

    def __init__(self, specs: Callable[[TableName], TableSpec]) -> None:
        self._specs = specs
        self._builders: dict[tuple[str, str], TableBatchBuilder] = {}
        self._done: list[TableBatch] = []
        self._exact: dict[tuple[str, str], str] = {}
        self._shapes: dict[str, list[Shape]] = {}  # by the header's table text
        self._last: dict[str, Shape] = {}  # by action: the shape the last such change had
        self._unshaped: dict[tuple[str, str], int] = {}  # changes that taught no shape
        self._txn: TxnInfo | None = None
        self._begin: transaction.Begin | None = None
        self._next = ""  # the open transaction's nextlsn, as its BEGIN wrote it
        self._seq = 0
        self.rows = 0
        """Row changes gathered since the last :meth:`take`."""
        self.nbytes = 0
        """Bytes of wal2json text fed since the last :meth:`take`."""

    @property
    def in_transaction(self) -> bool:
        """Whether a ``B`` was fed and its ``C`` not yet."""
        return self._txn is not None

    def feed(self, lsn: str, xid: str, data: str | bytes) -> Event | None:
        """Decode one peek row: None for a row change, else the ``B``/``C``/``M`` event."""
        text = data if isinstance(data, str) else data.decode()
        action, txn = text[11:12], self._txn  # {"action":"I",... as wal2json writes it
        if action in _BOUNDARY_ACTIONS:
            boundary = _BOUNDARY.fullmatch(text)
            if boundary is not None:
                return self._boundary(boundary, lsn, text)
        elif txn is not None and self._shapes:
            shape, match = self._last.get(action), None
            if shape is not None:
                match = shape.pattern.fullmatch(text)
            if match is None:
                shape, match = self._shaped(text)
            if shape is not None and match is not None:
                builder = self._builders[shape.name]
                builder.add_tokens(shape, match.groups(), txn, self._seq, lsn)
                self._seq += 1
                self.rows += 1
                self.nbytes += len(text)
                return None
        return self._parsed(lsn, text)

    def _shaped(self, text: str) -> tuple[Shape | None, re.Match[str] | None]:
        """The known shape the text matches (it becomes the first one tried), and the
        match; the table's shapes are found by the header's table text."""
        for shape in self._shapes.get(header_text(text) or "", ()):
            match = shape.pattern.fullmatch(text)
            if match is not None:
                self._last[shape.action] = shape
                return shape, match
        return None, None

    def _parsed(self, lsn: str, text: str) -> Event | None:
        exact = bool(self._exact) and any(
            text.find(header, 0, _HEADER_SPAN) >= 0 for header in self._exact.values()
        )
        if exact:
            message = parse_message(text, exact=True, lsn=lsn)
        else:
            try:
                message = orjson.loads(text)
            except orjson.JSONDecodeError:
                message, exact = parse_message(text, exact=True, lsn=lsn), True
        try:
            action = message["action"]
            if action in _ROW_ACTIONS:
                self._row_change(message, text, lsn, exact)
                return None
            event = self._event(message, lsn)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, DecodeError):
                raise
            table = _table_text(message)
            raise DecodeError(
                f"malformed wal2json message: {exc!r}", lsn=lsn, table=table
            ) from None
        self.nbytes += len(text)
        return event

    def _row_change(self, message: dict[str, Any], text: str, lsn: str, exact: bool) -> None:
        txn = self._txn
        if txn is None:
            raise DecodeError("row change outside a transaction", lsn=lsn)
        key = (message["schema"], message["table"])
        builder = self._builders.get(key)
        if builder is None:
            builder = self._new_builder(key)
        if builder.exact_text_needed and not exact:
            message = parse_message(text, exact=True, lsn=lsn)
        shape = self._learn(message, text, builder, txn, lsn)
        if shape is not None:
            tokens = shape.pattern.fullmatch(text)
            assert tokens is not None
            builder.add_tokens(shape, tokens.groups(), txn, self._seq, lsn)
        else:
            _add(builder, message, txn, self._seq, lsn)
        self._seq += 1
        self.rows += 1
        self.nbytes += len(text)

    def _learn(
        self,
        message: dict[str, Any],
        text: str,
        builder: TableBatchBuilder,
        txn: TxnInfo,
        lsn: str,
    ) -> Shape | None:
        """The shape of a change no known shape matched, kept when the builder makes of
        its tokens exactly what it makes of the parsed change."""
        table, key = builder.spec.table, (message["schema"], message["table"])
        tried = self._unshaped.get(key, 0)
        if tried >= _MAX_SHAPES or message["action"] == "T" or key != (table.schema, table.name):
            return None
        shape = learn_shape(message, text, builder.spec, key)
        if shape is None or shape.header != header_text(text):
            self._unshaped[key] = self._unshaped.get(key, 0) + 1
            return None
        match = shape.pattern.fullmatch(text)
        parsed, tokens = TableBatchBuilder(builder.spec), TableBatchBuilder(builder.spec)
        try:
            _add(parsed, message, txn, 0, lsn)
            tokens.add_tokens(shape, match.groups() if match else (), txn, 0, lsn)
        except DecodeError:
            return None  # refused: the parsed change raises again, for the caller
        if parsed.last_change() != tokens.last_change():
            self._unshaped[key] = self._unshaped.get(key, 0) + 1
            return None
        self._shapes.setdefault(shape.header, []).append(shape)
        self._unshaped[key] = self._unshaped.get(key, 0) + 1  # a table has few shapes
        return shape

    def _event(self, message: dict[str, Any], lsn: str) -> Event:
        action = message["action"]
        if action == "B":
            return self._open(message, lsn)
        if action == "C":
            return self._close(message, lsn)
        if action == "M":
            return self._message(message, lsn)
        raise DecodeError(f"unknown wal2json action {action!r}", lsn=lsn)

    def _boundary(self, match: re.Match[str], lsn: str, text: str) -> Event:
        """A ``B`` or ``C`` row of the plain form, read from its text (no JSON parsing)."""
        action, xid, stamp, nextlsn = match.groups()
        if action == "B":
            event: Event = self._open_with(int(xid), stamp, nextlsn, lsn)
        else:
            event = self._close_with(int(xid), nextlsn, lsn)
        self.nbytes += len(text)
        return event

    def _open(self, message: dict[str, Any], lsn: str) -> transaction.Begin:
        if self._txn is not None:
            raise DecodeError("BEGIN inside an open transaction", lsn=lsn)
        return self._open_with(message["xid"], message["timestamp"], message["nextlsn"], lsn)

    def _open_with(self, xid: Any, stamp: str, nextlsn: str, lsn: str) -> transaction.Begin:
        if self._txn is not None:
            raise DecodeError("BEGIN inside an open transaction", lsn=lsn)
        first, commit = _lsn(lsn), _lsn(nextlsn)
        commit_ts = commit_timestamp(stamp)
        if type(xid) is not int:  # what the event model accepts for one, or its error
            xid = Begin(xid=xid, first_lsn=first, commit_lsn=commit, commit_ts=commit_ts).xid
        begin = transaction.Begin(xid, first, commit, commit_ts)
        ts_us = (commit_ts - _EPOCH) // _MICROSECOND
        self._txn = TxnInfo(xid, int(commit), ts_us)
        self._begin, self._next, self._seq = begin, nextlsn, 0
        return begin

    def _close(self, message: dict[str, Any], lsn: str) -> transaction.Commit:
        if self._begin is None:
            raise DecodeError("COMMIT without a transaction", lsn=lsn)
        return self._close_with(message["xid"], message["nextlsn"], lsn)

    def _close_with(self, xid: Any, nextlsn: str, lsn: str) -> transaction.Commit:
        begin = self._begin
        if begin is None:
            raise DecodeError("COMMIT without a transaction", lsn=lsn)
        # the same text as the BEGIN's is the same LSN; other text may be too
        if xid != begin.xid or (nextlsn != self._next and _lsn(nextlsn) != begin.commit_lsn):
            raise DecodeError(f"COMMIT does not match BEGIN of xid {begin.xid}", lsn=lsn)
        self._txn = self._begin = None
        return transaction.Commit(begin.xid, begin.commit_lsn, begin.commit_ts)

    def _message(self, message: dict[str, Any], lsn: str) -> Message:
        event = _message(message, lsn, self._begin, self._seq)
        if event.seq is not None:
            self._seq += 1
        return event

    def _new_builder(self, key: tuple[str, str]) -> TableBatchBuilder:
        builder = TableBatchBuilder(self._specs(TableName(*key)), _background())
        self._install(builder)
        return builder

    def _install(self, builder: TableBatchBuilder) -> None:
        table = builder.spec.table
        key = (table.schema, table.name)
        self._builders[key] = builder
        self._exact.pop(key, None)
        self._forget_shapes(key)
        if builder.exact_text_needed:
            # A change's own header, as wal2json writes it: no JSON string value can hold
            # this text unescaped, so finding it means "a change of this table".
            schema, name = (orjson.dumps(part).decode() for part in key)
            self._exact[key] = f'"schema":{schema},"table":{name},'

    def _forget_shapes(self, key: tuple[str, str]) -> None:
        """Shapes were learned under the table's old spec: learn them again."""
        self._unshaped.pop(key, None)
        for text, shapes in list(self._shapes.items()):
            if shapes[0].name == key:
                del self._shapes[text]
        self._last = {a: s for a, s in self._last.items() if s.name != key}

    def set_spec(self, spec: TableSpec) -> None:
        """Use ``spec`` for the table's next changes; those gathered keep their own."""
        table = spec.table
        old = self._builders.get((table.schema, table.name))
        if old is not None and old.rows:
            self._done.append(TableBatch(old.spec.table, old.spec, old.build()))
        self._install(TableBatchBuilder(spec, _background()))

    def take(self) -> list[TableBatch]:
        """Everything gathered, built into Arrow tables (one per table and spec), in the
        order the tables first appeared; the decoder starts empty again but keeps its
        place in the current transaction."""
        batches, self._done = self._done, []
        for builder in self._builders.values():
            if builder.rows:
                batches.append(TableBatch(builder.spec.table, builder.spec, builder.build()))
        self._builders = {
            k: TableBatchBuilder(b.spec, _background()) for k, b in self._builders.items()
        }
        self.rows = self.nbytes = 0
        return batches
