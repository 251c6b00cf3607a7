"""Reading the raw store back in tests: every change of a table, and its current state."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pgcdc.schemas.tables import TableName
from pgcdc.storage import Store
from pgcdc.storage.lake.raw import table_objects
from pgcdc.transformer.current_state import META, current_state_sql


def change_files(raw: Store, table: TableName) -> list[str]:
    """Keys of a table's change files and complete snapshots' parts."""
    return [obj.key for obj in table_objects(raw, table)]


def changes(raw: Store, table: TableName) -> pa.Table | None:
    """All of a table's changes, or None when it has none."""
    tables = [raw.read_parquet(k) for k in change_files(raw, table)]
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="default")


def reconstruct(raw: Store, table: TableName, key: list[str]) -> list[tuple[Any, ...]]:
    """The table's current rows from the raw store alone, sorted."""
    data = changes(raw, table)
    if data is None:
        return []
    columns = [c for c in data.column_names if c not in META]
    con = duckdb.connect()
    con.register("changes", data)
    assert_stored_once(con, table, key)
    rows = con.execute(current_state_sql("changes", columns, key)).fetchall()
    return sorted(rows, key=repr)


def assert_stored_once(con: duckdb.DuckDBPyConnection, table: TableName, key: list[str]) -> None:
    """No change of relation ``changes`` is stored twice: a stream change is one
    (``_lsn``, ``_seq``), a snapshot row one (``_lsn``, key). "Last write per key wins"
    would hide a batch written twice under two names; this does not."""
    keys = ", ".join(f'"{c}"' for c in key)
    twice = con.execute(
        f"""SELECT _op, _lsn, _seq, count(*) FROM changes WHERE _op <> 'r'
            GROUP BY ALL HAVING count(*) > 1
            UNION ALL
            SELECT 'r', _lsn, NULL, count(*) FROM changes WHERE _op = 'r'
            GROUP BY _lsn, {keys} HAVING count(*) > 1 LIMIT 5"""
    ).fetchall()
    assert not twice, f"{table}: changes stored more than once (op, lsn, seq, copies): {twice}"


def source_rows(conn: Any, table: TableName) -> list[tuple[Any, ...]]:
    """``SELECT *`` of the source table, sorted like :func:`reconstruct`."""
    rows = conn.execute(f"SELECT * FROM {table.sql}").fetchall()
    return sorted((tuple(r) for r in rows), key=repr)


def parquet_schema(raw: Store, key: str) -> pa.Schema:
    """The Parquet schema of one object."""
    return pq.read_schema(raw.path(key), filesystem=raw.filesystem)
