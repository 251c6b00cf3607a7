"""Folding the changes of a table without a key: the table is a multiset of whole rows.

A table with no primary key is captured under ``REPLICA IDENTITY FULL``: an update carries
the whole old row (``_old_key`` holds every column) and a delete the whole removed row. Such
a table may hold identical rows, and NULL in any column, so a row is known only by all its
values, and only how many copies of each distinct row exist matters. Its state holds one row
per distinct row with ``_count`` (see :mod:`pgcdc.schemas.processed`).

Adding and removing copies commute, so a run of changes without a truncate or snapshot
amounts to a net count per distinct row, whatever their order: an insert adds one copy, a
delete removes one, an update removes one copy of the old row and adds one of the new (an
update that changed nothing, ``_old_key`` NULL, changes no count). In Postgres an UPDATE or
DELETE touching several identical rows logs one change per row, so the net counts follow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import duckdb
import pyarrow as pa

from pgcdc.schemas.processed import COUNT, PREVIOUS
from pgcdc.schemas.tables import quote_ident
from pgcdc.transformer.arrowsql import arrow_query, bound
from pgcdc.transformer.current_state import CHANGE_ORDER

log = logging.getLogger("pgcdc.transformer")

Lookup = Callable[[pa.Table], pa.Table]
"""The previous state (rows with ``_count``) of some distinct rows (a table of columns)."""


def _moves_sql(columns: Sequence[str], old_fields: Sequence[str]) -> str:
    """Every change as one or two signed row images (``_n``: +1 added, -1 removed, 0 kept)."""
    q = [quote_ident(c) for c in columns]
    old = ", ".join(
        f"_old_key.{qc} AS {qc}" if c in old_fields else f"NULL AS {qc}"
        for c, qc in zip(columns, q, strict=True)
    )
    return f"""
WITH ordered AS (SELECT *, row_number() OVER ({CHANGE_ORDER}) AS _ord FROM changes)
SELECT {", ".join(q)}, _lsn, _seq, _commit_ts, _op = 'd' AS _deleted, _ord::DOUBLE AS _pos,
       CASE WHEN _op = 'd' THEN -1 WHEN _op = 'u' AND _old_key IS NULL THEN 0 ELSE 1 END AS _n
FROM ordered
UNION ALL BY NAME
SELECT {old}, _lsn, _seq, _commit_ts, true AS _deleted, _ord - 0.5 AS _pos, -1 AS _n
FROM ordered WHERE _op = 'u' AND _old_key IS NOT NULL
"""


def _old_fields(changes: pa.Table) -> list[str]:
    if "_old_key" not in changes.column_names:
        return []
    kind = changes.schema.field("_old_key").type
    return [kind.field(i).name for i in range(kind.num_fields)] if pa.types.is_struct(kind) else []


def fold_multiset(
    con: duckdb.DuckDBPyConnection,
    changes: pa.Table,
    columns: Sequence[str],
    lookup: Lookup,
    table: str = "",
) -> tuple[pa.Table, pa.Table]:
    """Versions of ``changes`` (no truncate or snapshot inside) and the delta of the counts.

    The delta holds each distinct row whose count changed: its columns, ``_previous`` (the
    copies before, from ``lookup``), ``_count`` (after) and ``_deleted`` (none left).
    """
    q = [quote_ident(c) for c in columns]
    cols = ", ".join(q)
    with bound(con, changes=changes):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _moves AS {_moves_sql(columns, _old_fields(changes))}"
        )
    versions = con.sql(
        f"SELECT {cols}, _lsn, _seq, _commit_ts, _deleted FROM _moves ORDER BY _pos"
    ).to_arrow_table()
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _net AS
            SELECT {cols}, sum(_n) AS _net FROM _moves GROUP BY ALL HAVING sum(_n) <> 0"""
    )
    prev = lookup(con.sql(f"SELECT {cols} FROM _net").to_arrow_table())
    return versions, _count_delta(con, prev, q, table)


def _count_delta(
    con: duckdb.DuckDBPyConnection, prev: pa.Table, q: Sequence[str], table: str
) -> pa.Table:
    """``_net`` applied to the previous counts (a count never goes below zero)."""
    on = " AND ".join(f"p.{c} IS NOT DISTINCT FROM n.{c}" for c in q)
    # A state object written before multisets existed has no _count: it held one copy.
    had = f"CASE WHEN p._hit IS NULL THEN 0 ELSE coalesce(p.{COUNT}, 1) END"
    delta = arrow_query(
        con,
        f"""SELECT {", ".join(f"n.{c}" for c in q)}, {had}::BIGINT AS {PREVIOUS},
                   greatest({had} + n._net, 0)::BIGINT AS {COUNT},
                   {had} + n._net <= 0 AS _deleted, {had} + n._net < 0 AS _short
            FROM _net AS n LEFT JOIN (SELECT *, true AS _hit FROM _prev) AS p ON {on}""",
        _prev=prev,
    )
    short = delta.column("_short").to_pylist().count(True)
    if short:
        # The source removed copies the state did not hold: a row older than the capture
        # (or a column added with a default) differs from what was folded.
        log.warning(
            "%s: %d rows removed that the state did not hold; counted as none left",
            table,
            short,
            extra={"table": table},
        )
    return delta.drop_columns(["_short"])
