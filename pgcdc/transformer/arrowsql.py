"""DuckDB SQL over Arrow tables bound under names for one query."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import duckdb
import pyarrow as pa


@contextmanager
def bound(con: duckdb.DuckDBPyConnection, **tables: pa.Table) -> Iterator[None]:
    """Each Arrow table registered under its name, unregistered afterwards (also on error)."""
    for name, table in tables.items():
        con.register(name, table)
    try:
        yield
    finally:
        for name in tables:
            con.unregister(name)


def arrow_query(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    *,
    params: Sequence[object] | Mapping[str, object] | None = None,
    like: pa.Schema | None = None,
    **tables: pa.Table,
) -> pa.Table:
    """The result of ``sql`` over ``tables`` as an Arrow table, cast to ``like`` when given.

    DuckDB answers with its own types (e.g. a ``large_string`` comes back as ``string``):
    ``like`` keeps the schema of the tables the result replaces.
    """
    with bound(con, **tables):
        out = con.sql(sql, params=params).to_arrow_table()
    return out.cast(like) if like is not None and out.schema != like else out
