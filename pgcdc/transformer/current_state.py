"""Folding a table's change log into its current state, in DuckDB SQL.

The rules (the raw-store contract): changes apply in ``(_lsn, _seq)`` order; a truncate
removes every row before it; a snapshot (``_op = 'r'``) is the whole table as of its LSN, so
it replaces everything before it; the last change per key wins and a delete removes the key;
an update that changed the key also removes the old key; a column listed in ``_unchanged``
(TOASTed, not sent) keeps the key's previous value.
"""

from __future__ import annotations

from collections.abc import Sequence

from pgcdc.schemas.tables import quote_ident

CHANGE_ORDER = "ORDER BY _lsn, CASE WHEN _op = 'r' THEN -1 ELSE _seq END"
"""The order changes apply in: by commit, then position in the transaction; a snapshot's
rows first within their LSN."""

META = ("_op", "_lsn", "_seq", "_xid", "_commit_ts", "_unchanged", "_old_key", "_nonfinite")


def current_state_sql(changes: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """A SELECT giving the current rows of the table whose changes ``changes`` names.

    ``changes`` is a relation (a view or table name, already quoted, or a subquery in
    parentheses); ``columns`` are the table's own columns in order; ``key`` identifies a row.
    A key covering every column (REPLICA IDENTITY FULL without a primary key) identifies
    nothing: the table is a multiset, see :func:`multiset_state_sql`.
    """
    if not key:
        raise ValueError("a table without a key cannot be folded into current state")
    if set(columns) <= set(key):
        return multiset_state_sql(changes, columns, key)
    q = [quote_ident(c) for c in columns]
    k = [quote_ident(c) for c in key]
    old_key_cols = ", ".join(f"_old_key.{c} AS {c}" for c in k)
    null_cols = ", ".join(f"NULL AS {c}" for c in q if c not in k)
    old_deletes = f"""
        SELECT {old_key_cols}{", " if null_cols else ""}{null_cols},
               'd' AS _op, NULL::VARCHAR[] AS _unchanged, _ord - 0.5 AS _pos
        FROM kept WHERE _op = 'u' AND _old_key IS NOT NULL"""
    carried = ",\n".join(
        f"""(last_value(CASE WHEN _unchanged IS NULL OR NOT list_contains(_unchanged, {_lit(c)})
                     THEN struct_pack(v := {qc}) END IGNORE NULLS) OVER w).v AS {qc}"""
        for c, qc in zip(columns, q, strict=True)
    )
    return f"""
WITH {_kept(changes)},
events AS (
    SELECT {", ".join(q)}, _op, _unchanged, _ord::DOUBLE AS _pos FROM kept
    UNION ALL BY NAME {old_deletes}
),
folded AS (
    SELECT {carried}, _op, _pos,
           row_number() OVER (PARTITION BY {", ".join(k)} ORDER BY _pos DESC) AS _rank
    FROM events
    WINDOW w AS (PARTITION BY {", ".join(k)} ORDER BY _pos
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT {", ".join(q)} FROM folded WHERE _rank = 1 AND _op <> 'd'
"""


def multiset_state_sql(changes: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """The current rows of a table without a key: each distinct row as many times as the
    changes since the last truncate or snapshot add it (inserts, snapshot rows, an update's
    new row) minus those that remove it (deletes, an update's old row, ``_old_key``)."""
    q = [quote_ident(c) for c in columns]
    cols = ", ".join(q)
    old = ", ".join(
        f"_old_key.{qc} AS {qc}" if c in key else f"NULL AS {qc}"
        for c, qc in zip(columns, q, strict=True)
    )
    return f"""
WITH {_kept(changes)},
moves AS (
    SELECT {cols},
           CASE WHEN _op = 'd' THEN -1 WHEN _op = 'u' AND _old_key IS NULL THEN 0 ELSE 1 END AS _n
    FROM kept
    UNION ALL BY NAME
    SELECT {old}, -1 AS _n FROM kept WHERE _op = 'u' AND _old_key IS NOT NULL
),
counts AS (SELECT {cols}, sum(_n) AS _count FROM moves GROUP BY ALL HAVING sum(_n) > 0)
SELECT {cols} FROM (SELECT {cols}, unnest(range(_count::BIGINT)) FROM counts)
"""


def _kept(changes: str) -> str:
    """CTEs ``ordered`` (the changes numbered in order) and ``kept`` (those after the last
    truncate and from the newest snapshot on, truncates left out)."""
    return f"""ordered AS (SELECT *, row_number() OVER ({CHANGE_ORDER}) AS _ord FROM {changes}),
keep_from AS (
    SELECT greatest(
        coalesce((SELECT max(_ord) + 1 FROM ordered WHERE _op = 't'), 0),
        coalesce((SELECT min(_ord) FROM ordered
                  WHERE _op = 'r' AND _lsn = (SELECT max(_lsn) FROM ordered
                                              WHERE _op = 'r')), 0)) AS v),
kept AS (SELECT * FROM ordered WHERE _ord >= (SELECT v FROM keep_from) AND _op <> 't')"""


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
