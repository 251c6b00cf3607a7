"""Reading pending changes from a slot: ``pg_logical_slot_peek_changes`` through a cursor.

The server materialises the decoded changes (spilling to disk past ``work_mem``); a
server-side cursor then hands them over ``fetch_size`` rows at a time, so the client's memory
is bounded by the fetch size, not by the backlog. Peeking does not consume: the slot moves
only when :func:`pgcdc.cdc_reader.slot.advance_slot` is called after the data is durable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg

from pgcdc.cdc_reader.source import translate
from pgcdc.cdc_reader.wal2json import PLUGIN_OPTIONS
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.tables import TableName

HEARTBEAT_PREFIX = "pgcdc-heartbeat"

NUMERIC_AS_STRING = ("numeric-data-types-as-string", "1")
"""The wal2json option (2.6 and later) that sends numerics as JSON strings."""


def wal2json_escape(name: str) -> str:
    """Escape a name for wal2json's table lists: separators, wildcards, backslashes, spaces.

    wal2json skips unescaped white space around list items, so a space inside a name needs
    a backslash too.
    """
    return "".join("\\" + ch if ch in ",.*\\" or ch.isspace() else ch for ch in name)


def plugin_options(tables: list[TableName], *, numeric_as_string: bool) -> list[str]:
    """The wal2json options, flattened to the ``VARIADIC text[]`` the peek function takes.

    ``add-tables`` limits decoding output to the captured tables (listed explicitly, so a
    table created later is not captured by accident; the catalog is read again each run).
    """
    options = list(PLUGIN_OPTIONS)
    if numeric_as_string:
        options.append(NUMERIC_AS_STRING)
    if tables:
        listed = ",".join(f"{wal2json_escape(t.schema)}.{wal2json_escape(t.name)}" for t in tables)
        options.append(("add-tables", listed))
    return [x for pair in options for x in pair]


def current_wal_lsn(conn: psycopg.Connection[Any]) -> Lsn:
    """The server's current WAL insert position."""
    row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return Lsn.parse(row[0])


def emit_heartbeat(conn: psycopg.Connection[Any], slot: str) -> Lsn:
    """Write a non-transactional logical message so an idle slot has something to advance to.

    Without it a slot whose tables never change pins WAL forever (other databases' and
    tables' writes still fill the WAL it retains).
    """
    body = json.dumps({"slot": slot})
    try:
        row = conn.execute(
            "SELECT pg_logical_emit_message(false, %s, %s)::text", (HEARTBEAT_PREFIX, body)
        ).fetchone()
    except psycopg.Error as exc:
        raise translate(exc, "emitting the heartbeat message") from None
    assert row is not None
    return Lsn.parse(row[0])


def peek_rows(
    conn: psycopg.Connection[Any],
    slot: str,
    options: list[str],
    *,
    upto: Lsn | None,
    fetch_size: int = 10_000,
) -> Iterator[tuple[str, str, str]]:
    """Yield ``(lsn, xid, data)`` rows pending in the slot, committed before ``upto``.

    With libpq 17 or later the rows stream in chunks of ``fetch_size`` (chunked-rows
    mode): the server sends the next chunk while the caller works on this one. Otherwise
    a server-side cursor fetches them ``fetch_size`` at a time, one round trip each.
    Either way the client holds about one chunk.
    """
    params = (slot, str(upto) if upto else None, options)
    try:
        if psycopg.pq.version() >= _CHUNKED_ROWS_LIBPQ:
            with conn.cursor() as cur:
                yield from cur.stream(_PEEK, params, size=fetch_size)
            return
        with conn.transaction(), conn.cursor(name=f"pgcdc_peek_{slot}") as named:
            named.itersize = fetch_size
            named.execute(_PEEK, params)
            yield from named
    except psycopg.Error as exc:
        raise translate(exc, f"reading changes from slot {slot}") from None


_PEEK = (
    "SELECT lsn::text, xid::text, data FROM pg_logical_slot_peek_changes("
    "%s, %s::pg_lsn, NULL, VARIADIC %s::text[])"
)
_CHUNKED_ROWS_LIBPQ = 170000
