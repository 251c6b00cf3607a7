"""The wire shape of a table's row changes: recognise a change by its text alone.

wal2json writes the changes of a table alike: the same keys in the same order, the same
column names, types and type oids; only the header's xid, timestamp and lsn and the values
differ. A :class:`Shape`, learned from a change the decoder parsed and the table's builder
accepted, is a regular expression of that text with one group per value. A change whose
text matches it is valid JSON with exactly these columns, so it fits the spec the way the
learned change did, and its values can be kept as raw tokens (:mod:`pgcdc.cdc_reader.codec`)
without parsing the message at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from pgcdc.schemas.pgtypes import Codec, column_type
from pgcdc.schemas.tablespec import TableSpec

HEADER_KEYS = ("action", "xid", "timestamp", "lsn", "schema", "table")
_OPS = {"I": "c", "U": "u", "D": "d"}
_BODIES = {"I": ("columns",), "U": ("columns", "identity"), "D": ("identity",)}
_COLUMN_KEYS = ["name", "type", "typeoid", "value"]
# The header as wal2json writes it with pgcdc's options; its values are not used.
_HEAD = (
    r'\{{"action":"{action}","xid":(?:0|[1-9][0-9]{{0,19}}+),"timestamp":"[^"\\\x00-\x1f]*+",'
    r'"lsn":"[0-9A-F]{{1,8}}+/[0-9A-F]{{1,8}}+"'
)
# JSON values as wal2json writes them, possessive (no backtracking: a mismatch fails fast).
# A string as Postgres' escape_json writes it (control characters as \u00XX).
_STRING = r'"[^"\\\x00-\x1f]*+(?:\\(?:["\\/bfnrt]|u00[01][0-9a-fA-F])[^"\\\x00-\x1f]*+)*+"'
_NUMBER = r"-?+(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][+-]?+[0-9]++)?+"
# Numbers parsed into an int or a double: none so wide that the parser refuses it.
_INTEGER = r"-?+(?:0|[1-9][0-9]{0,199}+)"
_DOUBLE = _INTEGER + r"(?:\.[0-9]++)?+(?:[eE][+-]?+[0-9]{1,2}+)?+"
_TEXT = rf"({_STRING}|null)"
# The JSON value wal2json writes for a type of each converter, under the type's own oids
# (the registry's); a domain's oid (any other) and every other converter send text.
_JSON_VALUES: dict[Codec, str] = {
    Codec.BOOL: rf"(true|false|null|{_STRING})",
    Codec.INTEGER: rf"({_INTEGER}|null|{_STRING})",
    Codec.FLOAT8: rf"({_DOUBLE}|null|{_STRING})",
    # numbers read as their text (the registry's number_text): any number
    Codec.FLOAT4: rf"({_NUMBER}|null|{_STRING})",
    Codec.DECIMAL: rf"({_NUMBER}|null|{_STRING})",
    Codec.NUMERIC_TEXT: rf"({_NUMBER}|null|{_STRING})",
}


@dataclass(frozen=True, slots=True)
class Shape:
    """The text of one kind of change of one table (action, columns sent, identity sent).

    ``pattern`` has a group per value: those of ``columns`` (in the order sent), then
    those of the identity. Indexes below count these groups.
    """

    name: tuple[str, str]
    """The table's schema and name."""
    header: str
    """The header's ``,"schema":...,"table":...`` text: what finds a change's shapes."""
    pattern: re.Pattern[str]
    action: str
    """wal2json's ``action``: ``I``, ``U`` or ``D``."""
    op: str
    """The ``_op`` of the change: ``c``, ``u`` or ``d``."""
    columns: tuple[int, ...]
    """Table positions of the ``columns`` values."""
    in_order: bool
    """``columns`` are every column in table order: the first values are the row."""
    complete: bool
    """``in_order`` and no identity: the values are the row, nothing else to do."""
    fill: tuple[tuple[int, int], ...]
    """(table position, value index): a delete's identity, an update's unchanged TOAST
    value supplied by its FULL old row."""
    unchanged: tuple[str, ...]
    """Columns an update left out (TOASTed, unchanged) and no old row supplied."""
    key: tuple[int, ...]
    """Value indexes of the identity's key columns, in key order (empty: no identity)."""


def wire_type(pg_type: str) -> str:
    """A ``format_type`` text as it appears in wal2json's JSON.

    wal2json writes a quoted type name (``"PaymentTypeName"``) into the JSON as it is, so
    the quotes become the JSON string's own and disappear from the decoded text.
    """
    if pg_type.startswith('"') and pg_type.endswith('"') and '"' not in pg_type[1:-1]:
        return pg_type[1:-1]
    return pg_type


def header_text(text: str) -> str | None:
    """The ``,"schema":"s","table":"t"`` part of a change's text (no JSON parsing)."""
    start = text.find(',"schema":')
    if start < 0:
        return None
    end = text.find(',"', text.find(',"table":', start) + 9)
    return text[start:end] if end > start else None


def learn(
    message: dict[str, Any], text: str, spec: TableSpec, name: tuple[str, str]
) -> Shape | None:
    """The shape of a parsed change of table ``name``, or None when it has none to keep.

    Only a change of the plain form qualifies: the header keys, then ``columns`` and/or
    ``identity`` as the action has them, then an optional ``pk``; every column known to
    the spec under its wire type. Whether the builder accepts such a change is checked
    by the caller; that the shape matches its own text is checked here.
    """
    keys = list(message)
    action = message.get("action")
    if not isinstance(action, str) or keys[: len(HEADER_KEYS)] != list(HEADER_KEYS):
        return None
    body = [k for k in keys[len(HEADER_KEYS) :] if k != "pk"]
    if action not in _BODIES or tuple(body) not in _bodies(action):
        return None
    if keys[-1] != "pk" and "pk" in keys:
        return None
    parts = [_HEAD.format(action=action)]
    parts.append(
        re.escape(f',"schema":{_json(message["schema"])},"table":{_json(message["table"])}')
    )
    positions: dict[str, tuple[int, ...]] = {"columns": (), "identity": ()}
    for key in keys[len(HEADER_KEYS) :]:
        if key == "pk":
            parts.append(re.escape(f',"pk":{_json(message["pk"])}'))
            continue
        entries = _entries(message[key], spec)
        if entries is None:
            return None
        positions[key], pattern = entries
        parts.append(re.escape(f',"{key}":[') + pattern + r"\]")
    parts.append(r"\}")
    return _checked(parts, text, message, spec, positions=positions, name=name)


def _bodies(action: str) -> set[tuple[str, ...]]:
    body = _BODIES[action]
    return {body, body[:1]} if action == "U" else {body}


def _entries(entries: Any, spec: TableSpec) -> tuple[tuple[int, ...], str] | None:
    """Table positions of a columns/identity list and its pattern, None if not plain."""
    if not isinstance(entries, list) or not entries:
        return None
    positions: list[int] = []
    patterns: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict) or list(entry) != _COLUMN_KEYS:
            return None
        name, typ, oid = entry["name"], entry["type"], entry["typeoid"]
        pos = spec.position(name) if isinstance(name, str) else None
        if pos is None or not isinstance(typ, str) or type(oid) is not int or pos in positions:
            return None
        if typ != _wire_type(spec, pos):
            return None
        head = f'{{"name":{_json(name)},"type":{_json(typ)},"typeoid":{oid},"value":'
        patterns.append(re.escape(head) + _value_pattern(spec, pos, oid) + r"\}")
        positions.append(pos)
    return tuple(positions), ",".join(patterns)


def _value_pattern(spec: TableSpec, pos: int, oid: int) -> str:
    """The value as this column's type sends it: text for a type without numbers, or a
    domain; numbers or booleans (or text, ``numeric-data-types-as-string``) otherwise."""
    kind = column_type(spec.columns[pos]).info
    pattern = _JSON_VALUES.get(kind.codec)
    return pattern if pattern is not None and oid in kind.oids else _TEXT


def _checked(
    parts: Sequence[str],
    text: str,
    message: dict[str, Any],
    spec: TableSpec,
    *,
    positions: dict[str, tuple[int, ...]],
    name: tuple[str, str],
) -> Shape | None:
    pattern = re.compile("".join(parts))
    if pattern.fullmatch(text) is None:
        return None  # written another way than orjson writes it back: keep parsing
    columns, identity = positions["columns"], positions["identity"]
    first = len(columns)  # index of the identity's first value
    sent = set(columns)
    fill = [(pos, first + i) for i, pos in enumerate(identity) if pos not in sent]
    filled = sent | {pos for pos, _ in fill}
    key = [identity.index(p) for p in map(spec.names.index, spec.key) if p in identity]
    if identity and len(key) != len(spec.key):
        return None  # the builder refuses an old row without its key
    op = _OPS[message["action"]]
    left_out = [c.name for i, c in enumerate(spec.columns) if i not in filled]
    if op == "c" and left_out:
        return None  # the builder refuses an insert lacking columns
    in_order = columns == tuple(range(len(spec.columns)))
    return Shape(
        name=name,
        header=f',"schema":{_json(message["schema"])},"table":{_json(message["table"])}',
        pattern=pattern,
        action=message["action"],
        op=op,
        columns=columns,
        in_order=in_order,
        complete=in_order and not identity,
        fill=tuple(fill),
        unchanged=tuple(left_out) if op == "u" else (),
        key=tuple(first + i for i in key),
    )


def _wire_type(spec: TableSpec, pos: int) -> str:
    return wire_type(spec.columns[pos].pg_type)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
