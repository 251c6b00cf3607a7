"""What a drain asks of the source besides the stream: wal2json's options and the current
WAL position (the drain's end). The changes arrive through
:mod:`pgcdc.cdc_reader.replication`.
"""

from __future__ import annotations

from typing import Any

import psycopg

from pgcdc.cdc_reader.wal2json import PLUGIN_OPTIONS
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.tables import TableName

NUMERIC_AS_STRING = ("numeric-data-types-as-string", "1")
"""The wal2json option (2.6 and later) that sends numerics as JSON strings."""


def wal2json_escape(name: str) -> str:
    """Escape a name for wal2json's table lists: separators, wildcards, backslashes, spaces.

    wal2json skips unescaped white space around list items, so a space inside a name needs
    a backslash too.
    """
    return "".join("\\" + ch if ch in ",.*\\" or ch.isspace() else ch for ch in name)


def plugin_options(tables: list[TableName], *, numeric_as_string: bool) -> dict[str, str]:
    """The wal2json options of ``START_REPLICATION`` (name → value).

    ``add-tables`` limits decoding output to the captured tables (listed explicitly, so a
    table created later is not captured by accident; the catalog is read again each run).
    """
    options = list(PLUGIN_OPTIONS)
    if numeric_as_string:
        options.append(NUMERIC_AS_STRING)
    if tables:
        listed = ",".join(f"{wal2json_escape(t.schema)}.{wal2json_escape(t.name)}" for t in tables)
        options.append(("add-tables", listed))
    return dict(options)


def current_wal_lsn(conn: psycopg.Connection[Any]) -> Lsn:
    """The server's current WAL insert position."""
    row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return Lsn.parse(row[0])
