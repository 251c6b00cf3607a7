"""Row checks before the facts: a bad source version is quarantined, the rest goes on.

A fact's header names its ``required`` columns and its ``text_dates`` (text that must parse
as a date). A version failing a check is not turned into a fact row: it becomes a
quarantine row (target, source table, key, column, reason, value, LSN) and one ERROR log
line names the table, the key and the column.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import duckdb
import pyarrow as pa

from pgcdc.schemas.tables import TableName, quote_ident
from pgcdc.transformer.arrowsql import arrow_query, bound
from pgcdc.transformer.fold import lit
from pgcdc.transformer.model import Target

log = logging.getLogger("pgcdc.transformer")


def _rules(target: Target) -> list[tuple[str, str, str]]:
    """(column, reason, condition that flags a bad value)."""
    rules = [(c, "required value is null", f"{quote_ident(c)} IS NULL") for c in target.required]
    rules += [
        (
            c,
            "not a date (YYYY-MM-DD)",
            f"{quote_ident(c)} IS NOT NULL AND TRY_CAST({quote_ident(c)} AS DATE) IS NULL",
        )
        for c in target.text_dates
    ]
    return rules


def split_bad(
    con: duckdb.DuckDBPyConnection,
    target: Target,
    table: TableName,
    versions: pa.Table,
    key: Sequence[str],
) -> tuple[pa.Table, list[dict[str, object]]]:
    """The versions that pass the target's checks, and quarantine records of those that fail.

    Deleted versions are not checked: a delete carries what the row last was.
    """
    rules = [r for r in _rules(target) if r[0] in versions.column_names]
    if not rules or versions.num_rows == 0:
        return versions, []
    column = " ".join(f"WHEN {cond} THEN {lit(c)}" for c, _, cond in rules)
    reason = " ".join(f"WHEN {cond} THEN {lit(r)}" for _, r, cond in rules)
    flagged = f"""SELECT *, CASE WHEN _deleted THEN NULL {column} END AS _bad_column,
                         CASE WHEN _deleted THEN NULL {reason} END AS _bad_reason
                  FROM _checked"""
    with bound(con, _checked=versions):
        good = con.sql(
            f"SELECT * EXCLUDE (_bad_column, _bad_reason) FROM ({flagged}) "
            "WHERE _bad_column IS NULL"
        ).to_arrow_table()
        bad = con.execute(f"SELECT * FROM ({flagged}) WHERE _bad_column IS NOT NULL").fetchall()
        names = [d[0] for d in con.description or []]
    return good, [_record(target, table, dict(zip(names, row, strict=True)), key) for row in bad]


def _record(
    target: Target, table: TableName, row: dict[str, object], key: Sequence[str]
) -> dict[str, object]:
    column = str(row["_bad_column"])
    key_text = json.dumps({k: row[k] for k in key}, default=str)
    record = {
        "target": target.name,
        "source_table": table.qualified,
        "source_key": key_text,
        "column_name": column,
        "reason": str(row["_bad_reason"]),
        "bad_value": None if row[column] is None else str(row[column]),
        "source_lsn": row["_lsn"],
        "source_seq": row["_seq"],
        "source_row": json.dumps(
            {k: v for k, v in row.items() if not k.startswith("_")}, default=str
        ),
    }
    log.error(
        "quarantined a row of %s: key %s, column %s: %s (%r)",
        table.qualified,
        key_text,
        column,
        record["reason"],
        record["bad_value"],
        extra={"table": table.qualified, "key": key_text, "column": column, "target": target.name},
    )
    return record


def quarantine_table(con: duckdb.DuckDBPyConnection, records: list[dict[str, object]]) -> pa.Table:
    """Quarantine records as rows with a deterministic id (a replay gives the same id)."""
    return arrow_query(
        con,
        """SELECT (hash(target, source_key, source_lsn, source_seq, column_name) >> 1)::BIGINT
                  AS quarantine_id, target, source_table, source_key, column_name, reason,
                  bad_value, source_lsn::BIGINT AS source_lsn, source_seq::BIGINT AS source_seq,
                  source_row
           FROM _q""",
        _q=pa.Table.from_pylist(records),
    )
