"""Folding new changes into versions (one per change) and the table's new current state.

The rules are the raw-store contract's (see :mod:`pgcdc.transformer.current_state`), applied
incrementally: the changes after the transformer's position are ordered by
``(_lsn, _seq)`` (snapshot rows first within their LSN) and folded onto the previous
state of the keys they touch. A *version* is the full row after a change, with columns
listed in ``_unchanged`` (TOASTed, not sent) and the columns of a delete (only the key is
sent) carried forward from the key's previous version; ``_deleted`` marks deletes, the old
key of a key-changing update, every row a truncate removed, and every row a snapshot no
longer holds. A snapshot row equal to the key's current row is no version: re-snapshotting a
table adds versions only where the source differs from what was captured.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from pgcdc.schemas.processed import COUNT
from pgcdc.schemas.tables import quote_ident
from pgcdc.transformer.arrowsql import arrow_query, bound
from pgcdc.transformer.current_state import CHANGE_ORDER
from pgcdc.transformer.multiset import fold_multiset

VERSION_META = ("_lsn", "_seq", "_commit_ts", "_deleted")
PreviousState = Callable[[pa.Table | None], pa.Table]
"""The previous current rows of some keys (a table of key columns), or of all (None)."""
_ORDER = CHANGE_ORDER


@dataclass(frozen=True, slots=True)
class Folded:
    """What a table's new changes amount to."""

    versions: pa.Table
    """One row per change (columns, then ``_lsn``, ``_seq``, ``_commit_ts``, ``_deleted``)."""
    delta: pa.Table | None
    """Changed keys' last version (columns, ``_deleted``); None when ``state`` is given."""
    state: pa.Table | None
    """The whole new current state, when a truncate or snapshot replaced it."""


def lit(text: str) -> str:
    """A SQL string literal (for column names compared as values)."""
    return "'" + text.replace("'", "''") + "'"


def versions_sql(columns: Sequence[str], key: Sequence[str]) -> str:
    """SELECT of the versions of relation ``changes`` folded onto relation ``prev``."""
    q = [quote_ident(c) for c in columns]
    k = [quote_ident(c) for c in key]
    rest = [(c, qc) for c, qc in zip(columns, q, strict=True) if qc not in k]
    null_rest = "".join(f", NULL AS {qc}" for _, qc in rest)
    old_keys = ", ".join(f"_old_key.{c} AS {c}" for c in k)
    carried = "".join(
        f""",
        (last_value(CASE WHEN _op = 'd' OR list_contains(coalesce(_unchanged, []), {lit(c)})
                    THEN NULL ELSE struct_pack(v := {qc}) END IGNORE NULLS) OVER w).v AS {qc}"""
        for c, qc in rest
    )
    return f"""
WITH ordered AS (SELECT *, row_number() OVER ({_ORDER}) AS _ord FROM changes),
events AS (
    SELECT {", ".join(q)}, 'p' AS _op, NULL::VARCHAR[] AS _unchanged, NULL::BIGINT AS _lsn,
           NULL::BIGINT AS _seq, NULL::TIMESTAMPTZ AS _commit_ts, 0::DOUBLE AS _pos FROM prev
    UNION ALL BY NAME
    SELECT {", ".join(q)}, _op, _unchanged, _lsn, _seq, _commit_ts, _ord::DOUBLE AS _pos
    FROM ordered
    UNION ALL BY NAME
    SELECT {old_keys}{null_rest}, 'd' AS _op, NULL::VARCHAR[] AS _unchanged, _lsn, _seq,
           _commit_ts, _ord - 0.5 AS _pos
    FROM ordered WHERE _op = 'u' AND _old_key IS NOT NULL
),
folded AS (
    SELECT {", ".join(k)}{carried}, _op, _lsn, _seq, _commit_ts, _pos FROM events
    WINDOW w AS (PARTITION BY {", ".join(k)} ORDER BY _pos
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT {", ".join(q)}, _lsn, _seq, _commit_ts, _op = 'd' AS _deleted, _pos
FROM folded WHERE _op <> 'p'
"""


def fold_segment(
    con: duckdb.DuckDBPyConnection,
    prev: pa.Table,
    changes: pa.Table,
    columns: Sequence[str],
    key: Sequence[str],
) -> tuple[pa.Table, pa.Table]:
    """Versions of ``changes`` (no truncate inside) on ``prev``, and the changed keys' delta."""
    with bound(con, prev=prev, changes=changes):
        con.execute(f"CREATE OR REPLACE TEMP TABLE _versions AS {versions_sql(columns, key)}")
    k = ", ".join(quote_ident(c) for c in key)
    cols = ", ".join(quote_ident(c) for c in columns)
    versions = con.sql(
        f"SELECT {cols}, _lsn, _seq, _commit_ts, _deleted FROM _versions ORDER BY _pos"
    ).to_arrow_table()
    delta = con.sql(
        f"""SELECT {cols}, _deleted FROM _versions
            QUALIFY row_number() OVER (PARTITION BY {k} ORDER BY _pos DESC) = 1"""
    ).to_arrow_table()
    return versions, delta


def apply_delta(
    con: duckdb.DuckDBPyConnection, state: pa.Table, delta: pa.Table, key: Sequence[str]
) -> pa.Table:
    """``state`` with ``delta`` applied (changed keys replaced, deleted keys removed)."""
    k = [quote_ident(c) for c in key]
    cols = ", ".join(quote_ident(c) for c in state.column_names)
    on = " AND ".join(f"s.{c} IS NOT DISTINCT FROM d.{c}" for c in k)
    return arrow_query(
        con,
        f"""SELECT {cols} FROM _state_in AS s WHERE NOT EXISTS (
                SELECT 1 FROM _delta_in AS d WHERE {on})
            UNION ALL BY NAME
            SELECT {cols} FROM _delta_in WHERE NOT _deleted""",
        like=state.schema,
        _state_in=state,
        _delta_in=delta,
    )


def fold_changes(
    con: duckdb.DuckDBPyConnection,
    changes: pa.Table,
    key: Sequence[str],
    previous: PreviousState,
    *,
    multiset: bool = False,
    name: str = "",
) -> Folded:
    """Fold a table's new changes onto its previous state.

    ``previous(keys)`` gives the previous current rows of the keys in ``keys`` (a table of
    key columns) or, given None, the whole previous state. Without a truncate or snapshot
    among the changes only the touched keys are looked up, so the cost follows the changes.
    ``multiset``: the table has no key; the whole row is its key and the state counts
    identical rows (:mod:`pgcdc.transformer.multiset`); ``key`` is then ignored. ``name`` (the
    table) is for log lines.
    """
    columns = [c for c in changes.column_names if not c.startswith("_")]
    key = columns if multiset else key
    ordered = arrow_query(con, f"SELECT * FROM changes {_ORDER}", changes=changes)
    ops = ordered.column("_op").to_pylist()
    if "t" not in ops and "r" not in ops:
        if multiset:
            versions, delta = fold_multiset(con, ordered, columns, previous, name)
        else:
            prev = previous(_looked_up_keys(con, ordered, key))
            versions, delta = fold_segment(con, prev, ordered, columns, key)
        return Folded(versions, delta, None)
    state = previous(None)
    parts: list[pa.Table] = []
    for lo, hi, kind in _segments(ordered):
        segment = ordered.slice(lo, hi - lo)
        if kind == "t":
            parts.append(_removed(con, state, segment, key, everything=True))
            state = state.slice(0, 0)
            continue
        base = state.slice(0, 0) if kind == "r" else state
        if multiset:
            versions, delta = fold_multiset(con, segment, columns, _fixed(base), name)
        else:
            versions, delta = fold_segment(con, state, segment, columns, key)
        if kind == "r":
            parts.append(_removed(con, state, segment, key, everything=False))
            if not multiset:
                versions = _differing(con, versions, state, columns)
        parts.append(versions)
        state = apply_delta(con, base, delta, key)
    return Folded(pa.concat_tables(parts, promote_options="permissive"), None, state)


def with_departed(
    con: duckdb.DuckDBPyConnection, state: pa.Table, versions: pa.Table | None, key: Sequence[str]
) -> pa.Table:
    """``state`` plus, for each key that the ``versions`` ended (deleted, truncated, moved by
    a key change) and that ``state`` no longer holds, the last values it had (an ending
    version carries them forward).

    A type-1 dimension keeps every member it ever had, since older fact versions refer to
    them, including members that came and went between two runs.
    """
    if versions is None or versions.num_rows == 0:
        return state
    k = [quote_ident(c) for c in key]
    cols = ", ".join(quote_ident(c) for c in state.column_names)
    on = " AND ".join(f"s.{c} IS NOT DISTINCT FROM v.{c}" for c in k)
    return arrow_query(
        con,
        f"""SELECT {cols} FROM _state_in
            UNION ALL BY NAME
            SELECT {cols} FROM _versions_in AS v
            WHERE NOT EXISTS (SELECT 1 FROM _state_in AS s WHERE {on})
            QUALIFY row_number() OVER (PARTITION BY {", ".join(k)}
                                       ORDER BY _lsn DESC, _seq DESC) = 1""",
        like=state.schema,
        _state_in=state,
        _versions_in=versions,
    )


def _fixed(state: pa.Table) -> Callable[[pa.Table], pa.Table]:
    """A lookup answering with the whole (in-memory) state: the join picks the rows."""

    def lookup(_keys: pa.Table) -> pa.Table:
        return state

    return lookup


def _looked_up_keys(
    con: duckdb.DuckDBPyConnection, ordered: pa.Table, key: Sequence[str]
) -> pa.Table:
    """Keys whose previous row matters: all but those only inserted."""
    k = ", ".join(quote_ident(c) for c in key)
    olds = ", ".join(f"_old_key.{quote_ident(c)}" for c in key)
    return arrow_query(
        con,
        f"""SELECT DISTINCT {k} FROM _ordered WHERE _op <> 'c'
            UNION SELECT {olds} FROM _ordered WHERE _old_key IS NOT NULL""",
        _ordered=ordered,
    )


def _segments(ordered: pa.Table) -> list[tuple[int, int, str]]:
    """Runs of ordinary changes ('c'), single truncates ('t') and snapshots ('r')."""
    ops = ordered.column("_op").to_pylist()
    lsns = ordered.column("_lsn").to_pylist()
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(ops):
        kind = ops[i] if ops[i] in ("t", "r") else "c"
        j = i + 1
        if kind == "r":
            while j < len(ops) and ops[j] == "r" and lsns[j] == lsns[i]:
                j += 1
        elif kind == "c":
            while j < len(ops) and ops[j] not in ("t", "r"):
                j += 1
        out.append((i, j, kind))
        i = j
    return out


def _differing(
    con: duckdb.DuckDBPyConnection, versions: pa.Table, state: pa.Table, columns: Sequence[str]
) -> pa.Table:
    """The snapshot's versions that are not already the current row: a re-snapshot of a
    table whose changes were all captured adds no version (it is no change of the source)."""
    same = " AND ".join(
        f"s.{quote_ident(c)} IS NOT DISTINCT FROM v.{quote_ident(c)}" for c in columns
    )
    return arrow_query(
        con,
        f"""SELECT v.* FROM _versions_in AS v
            WHERE NOT EXISTS (SELECT 1 FROM _state_in AS s WHERE {same})""",
        like=versions.schema,
        _versions_in=versions,
        _state_in=state,
    )


def _removed(
    con: duckdb.DuckDBPyConnection,
    state: pa.Table,
    event: pa.Table,
    key: Sequence[str],
    *,
    everything: bool,
) -> pa.Table:
    """Deleted versions of the state rows a truncate (all) or a snapshot (those absent) removed."""
    first = event.slice(0, 1).to_pylist()[0]
    seq = first["_seq"] if everything else -1
    k = [quote_ident(c) for c in key]
    on = " AND ".join(f"s.{c} IS NOT DISTINCT FROM e.{c}" for c in k)
    absent = "" if everything else f"WHERE NOT EXISTS (SELECT 1 FROM _event AS e WHERE {on})"
    # A multiset state's _count is bookkeeping, not a column of the versions.
    cols = ", ".join(f"s.{quote_ident(c)}" for c in state.column_names if c != COUNT)
    return arrow_query(
        con,
        f"""SELECT {cols}, ?::BIGINT AS _lsn, ?::BIGINT AS _seq, ?::TIMESTAMPTZ AS _commit_ts,
                   true AS _deleted FROM _state_in AS s {absent}""",
        params=[first["_lsn"], seq, first["_commit_ts"]],
        _state_in=state,
        _event=event,
    )
