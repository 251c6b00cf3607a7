"""Reading the captured tables' specs (columns, types, key) from ``pg_catalog``."""

from __future__ import annotations

from typing import Any

import psycopg

from cdc_reader.source import translate
from schemas.errors import SourceError
from schemas.tables import TableFilter, TableName
from schemas.tablespec import ColumnSpec, TableSpec

_COLUMNS = """
SELECT n.nspname, c.relname, c.relreplident, a.attname,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod)
            ELSE format_type(a.atttypid, a.atttypmod) END,
       a.attndims,
       coalesce(pk.indisprimary, false), coalesce(pk.indisreplident, false)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN LATERAL (
    SELECT bool_or(i.indisprimary) AS indisprimary, bool_or(i.indisreplident) AS indisreplident
    FROM pg_index i
    WHERE i.indrelid = c.oid AND a.attnum = ANY (i.indkey) AND (i.indisprimary OR i.indisreplident)
) pk ON true
WHERE c.relkind = 'r' AND c.relpersistence = 'p'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY n.nspname, c.relname, a.attnum
"""


def load_specs(
    conn: psycopg.Connection[Any], table_filter: TableFilter
) -> dict[TableName, TableSpec]:
    """Specs of every ordinary, logged table the filter captures, keyed by name."""
    try:
        rows = conn.execute(_COLUMNS).fetchall()
    except psycopg.Error as exc:
        raise translate(exc, "reading the source catalog") from None
    grouped: dict[TableName, list[tuple[Any, ...]]] = {}
    for row in rows:
        table = TableName(row[0], row[1])
        if table_filter.matches(table):
            grouped.setdefault(table, []).append(row)
    return {table: _spec(table, cols) for table, cols in grouped.items()}


def _spec(table: TableName, rows: list[tuple[Any, ...]]) -> TableSpec:
    columns = tuple(ColumnSpec(r[3], r[4], int(r[5] or 0)) for r in rows)
    identity = rows[0][2]
    if identity == "i":
        key = tuple(r[3] for r in rows if r[7])
    elif any(r[6] for r in rows):
        key = tuple(r[3] for r in rows if r[6])
    elif identity == "f":
        key = tuple(c.name for c in columns)
    else:
        key = ()
    return TableSpec(table, columns, key)


def require_identity(specs: dict[TableName, TableSpec]) -> None:
    """Refuse tables whose updates and deletes wal2json would silently drop."""
    bad = sorted(str(t) for t, spec in specs.items() if not spec.key)
    if bad:
        raise SourceError(
            f"tables without a primary key and with REPLICA IDENTITY DEFAULT or NOTHING: "
            f"{', '.join(bad)} — wal2json drops their updates and deletes; run "
            "ALTER TABLE … REPLICA IDENTITY FULL (or add a primary key), or exclude them "
            "with PGCDC_EXCLUDE_TABLES"
        )
