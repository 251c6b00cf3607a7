"""Arrow tables bound for one DuckDB query, and released after it."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from pgcdc.transformer.arrowsql import arrow_query


def _names(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {row[0] for row in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}


def test_tables_are_bound_for_the_query_and_released_after_it() -> None:
    con = duckdb.connect()
    before = _names(con)
    rows = pa.table({"a": [1, 2, 3]})
    keys = pa.table({"a": [2]})
    out = arrow_query(con, "SELECT r.a FROM r SEMI JOIN k USING (a)", r=rows, k=keys)
    assert out.column("a").to_pylist() == [2]
    assert _names(con) == before


def test_tables_are_released_when_the_query_fails() -> None:
    con = duckdb.connect()
    before = _names(con)
    with pytest.raises(duckdb.BinderException, match="nope"):
        arrow_query(con, "SELECT nope FROM r", r=pa.table({"a": [1]}))
    assert _names(con) == before
    with pytest.raises(duckdb.CatalogException, match="r"):
        con.sql("SELECT * FROM r").fetchall()


def test_like_keeps_the_schema_of_the_replaced_table() -> None:
    con = duckdb.connect()
    state = pa.table({"s": pa.array(["x"], pa.large_string()), "n": pa.array([1], pa.int16())})
    plain = arrow_query(con, "SELECT * FROM t", t=state)
    assert plain.schema != state.schema  # DuckDB's own types come back
    kept = arrow_query(con, "SELECT * FROM t", like=state.schema, t=state)
    assert kept.schema == state.schema and kept.to_pylist() == state.to_pylist()


def test_params_reach_the_query() -> None:
    con = duckdb.connect()
    out = arrow_query(con, "SELECT a FROM t WHERE a > ?", params=[1], t=pa.table({"a": [1, 2]}))
    assert out.column("a").to_pylist() == [2]
