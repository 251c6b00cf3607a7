"""Folding a table's change log into its current state, in DuckDB SQL.

The rules (the raw-store contract): changes apply in ``(_lsn, _seq)`` order; a truncate
removes every row before it; a snapshot (``_op = 'r'``) is the whole table as of its LSN, so
it replaces everything before it; the last change per key wins and a delete removes the key;
an update that changed the key also removes the old key; a column listed in ``_unchanged``
(TOASTed, not sent) keeps the key's previous value.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.tables import quote_ident

CHANGE_ORDER = "ORDER BY _lsn, CASE WHEN _op = 'r' THEN -1 ELSE _seq END"
"""The order changes apply in: by commit, then position in the transaction; a snapshot's
rows first within their LSN."""

META = ("_op", "_lsn", "_seq", "_xid", "_commit_ts", "_unchanged", "_old_key", "_nonfinite")


def current_state_sql(changes: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """A SELECT giving the current rows of the table whose changes ``changes`` names.

    ``changes`` is a relation (a view or table name, already quoted, or a subquery in
    parentheses); ``columns`` are the table's own columns in order; ``key`` identifies a row.
    """
    if not key:
        raise ValueError("a table without a key cannot be folded into current state")
    q = [quote_ident(c) for c in columns]
    k = [quote_ident(c) for c in key]
    ordered = f"""
        SELECT *, row_number() OVER ({CHANGE_ORDER}) AS _ord
        FROM {changes}"""
    keep_from = """
        SELECT greatest(
            coalesce((SELECT max(_ord) + 1 FROM ordered WHERE _op = 't'), 0),
            coalesce((SELECT min(_ord) FROM ordered
                      WHERE _op = 'r' AND _lsn = (SELECT max(_lsn) FROM ordered
                                                  WHERE _op = 'r')), 0)) AS v"""
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
WITH ordered AS ({ordered}),
keep_from AS ({keep_from}),
kept AS (SELECT * FROM ordered WHERE _ord >= (SELECT v FROM keep_from) AND _op <> 't'),
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


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
