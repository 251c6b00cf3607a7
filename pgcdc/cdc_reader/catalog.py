"""Reading the source's tables (columns, types, key, kind, privileges) from ``pg_catalog``.

The two rules of which tables capture reads and which of them it can mirror live here, and
``capture``, ``snapshot`` and ``pgcdc check`` all apply them through :func:`list_tables`,
:func:`load_specs` and :func:`without_identity`. Found on PostgreSQL 15 with wal2json 2.5:

- a change to a partition is reported under the partition's own name (never the
  partitioned table's), and ``add-tables`` naming the partitioned table selects none of
  them: the partitions are the captured tables, a partitioned table itself is not;
- updates and deletes are dropped (with a WARNING ``no tuple identifier``) for a table with
  REPLICA IDENTITY NOTHING even when it has a primary key, for DEFAULT without a primary
  key, and for a partition whose partitioned table has REPLICA IDENTITY FULL but which
  itself has DEFAULT (a partitioned table's replica identity does not reach its partitions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from pgcdc.cdc_reader.source import translate
from pgcdc.schemas.errors import SourceError
from pgcdc.schemas.tables import TableFilter, TableName
from pgcdc.schemas.tablespec import ColumnSpec, TableSpec

_TABLES = """
SELECT n.nspname, c.relname, c.relkind = 'p', c.relpersistence = 'u', c.relreplident,
       pg_catalog.has_schema_privilege(n.oid, 'USAGE'),
       pg_catalog.has_table_privilege(c.oid, 'SELECT'),
       a.attname,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod)
            ELSE format_type(a.atttypid, a.atttypmod) END,
       a.attndims,
       coalesce(pk.indisprimary, false), coalesce(pk.indisreplident, false),
       CASE WHEN c.relispartition THEN root.nspname END,
       CASE WHEN c.relispartition THEN root.relname END
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN LATERAL (
    SELECT bool_or(i.indisprimary) AS indisprimary, bool_or(i.indisreplident) AS indisreplident
    FROM pg_index i
    WHERE i.indrelid = c.oid AND a.attnum = ANY (i.indkey) AND (i.indisprimary OR i.indisreplident)
) pk ON true
LEFT JOIN LATERAL (
    SELECT rn.nspname, r.relname FROM pg_class r JOIN pg_namespace rn ON rn.oid = r.relnamespace
    WHERE c.relispartition AND r.oid = pg_partition_root(c.oid)
) root ON true
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY n.nspname, c.relname, a.attnum
"""


@dataclass(frozen=True)
class SourceTable:
    """A table of the source as ``pg_catalog`` describes it, captured or not."""

    spec: TableSpec
    partitioned: bool
    unlogged: bool
    can_use_schema: bool
    can_select: bool
    root: TableName | None  # for a partition, the partitioned table at the top of its tree

    @property
    def name(self) -> TableName:
        """The table's schema-qualified name."""
        return self.spec.table

    @property
    def captured(self) -> bool:
        """Whether capture reads this table's changes: an ordinary table or a partition
        (wal2json names a partition's changes after the partition), logged (an unlogged
        table's changes never reach the WAL); never a partitioned table, which has no rows
        of its own."""
        return not (self.partitioned or self.unlogged)


def list_tables(conn: psycopg.Connection[Any], table_filter: TableFilter) -> list[SourceTable]:
    """Every ordinary, partitioned and unlogged table the filter matches, by name."""
    try:
        rows = conn.execute(_TABLES).fetchall()
    except psycopg.Error as exc:
        raise translate(exc, "reading the source catalog") from None
    grouped: dict[TableName, list[tuple[Any, ...]]] = {}
    for row in rows:
        table = TableName(row[0], row[1])
        if table_filter.matches(table):
            grouped.setdefault(table, []).append(row)
    return [_table(table, cols) for table, cols in grouped.items()]


def load_specs(
    conn: psycopg.Connection[Any], table_filter: TableFilter
) -> dict[TableName, TableSpec]:
    """Specs of every table the filter matches that capture reads (:attr:`SourceTable.captured`),
    keyed by name."""
    return {t.name: t.spec for t in list_tables(conn, table_filter) if t.captured}


def _table(table: TableName, rows: list[tuple[Any, ...]]) -> SourceTable:
    first = rows[0]
    columns = tuple(ColumnSpec(r[7], r[8], int(r[9] or 0)) for r in rows if r[7] is not None)
    key = identity_key(
        first[4],
        columns,
        primary=[r[7] for r in rows if r[10]],
        replica_index=[r[7] for r in rows if r[11]],
    )
    root = TableName(first[12], first[13]) if first[12] is not None else None
    return SourceTable(
        TableSpec(table, columns, key),
        partitioned=bool(first[2]),
        unlogged=bool(first[3]),
        can_use_schema=bool(first[5]),
        can_select=bool(first[6]),
        root=root,
    )


def identity_key(
    replident: str,
    columns: tuple[ColumnSpec, ...],
    *,
    primary: list[str],
    replica_index: list[str],
) -> tuple[str, ...]:
    """The columns wal2json identifies an updated or deleted row by, given the table's
    REPLICA IDENTITY (``pg_class.relreplident``); empty when it sends none, and so drops the
    table's updates and deletes."""
    if replident == "f":  # FULL: the whole old row
        return tuple(c.name for c in columns)
    if replident == "i":  # USING INDEX: that index's columns (none if it was dropped)
        return tuple(replica_index)
    if replident == "d":  # DEFAULT: the primary key, if there is one
        return tuple(primary)
    return ()  # NOTHING: no old key at all, whatever the indexes


def without_identity(specs: dict[TableName, TableSpec]) -> list[TableName]:
    """The tables whose updates and deletes wal2json would silently drop, sorted."""
    return sorted(t for t, spec in specs.items() if not spec.key)


def require_identity(specs: dict[TableName, TableSpec]) -> None:
    """Refuse tables whose updates and deletes wal2json would silently drop."""
    bad = without_identity(specs)
    if bad:
        raise SourceError(
            f"tables without a primary key and with REPLICA IDENTITY DEFAULT or NOTHING: "
            f"{', '.join(map(str, bad))} — wal2json drops their updates and deletes; run "
            "ALTER TABLE … REPLICA IDENTITY FULL (or add a primary key), or exclude them "
            "with PGCDC_EXCLUDE_TABLES"
        )
