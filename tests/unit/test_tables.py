from __future__ import annotations

import pytest

from pgcdc.schemas.errors import ConfigurationError
from pgcdc.schemas.tables import TableFilter, TableName, quote_ident

pytestmark = pytest.mark.unit


def test_quote_ident_doubles_quotes_and_refuses_nul() -> None:
    assert quote_ident("sales_order") == '"sales_order"'
    assert quote_ident('x"; DROP TABLE t; --') == '"x""; DROP TABLE t; --"'
    with pytest.raises(ValueError, match="NUL"):
        quote_ident("a\x00b")
    with pytest.raises(ValueError, match="empty"):
        quote_ident("")


def test_quote_ident_defeats_injection_in_duckdb() -> None:
    import duckdb

    con = duckdb.connect()
    evil = 'x" INTEGER); CREATE TABLE pwned (a INTEGER); --'
    con.execute(f"CREATE TABLE t ({quote_ident(evil)} INTEGER)")
    tables = {
        r[0]
        for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT internal").fetchall()
    }
    assert tables == {"t"}
    cols = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 't'"
        ).fetchall()
    ]
    assert cols == [evil]


def test_table_name_parsing() -> None:
    assert TableName.parse("sales_order") == TableName("public", "sales_order")
    assert TableName.parse("s.t") == TableName("s", "t")
    assert TableName.parse('"My Schema"."Odd.Name"') == TableName("My Schema", "Odd.Name")
    assert TableName.parse('"a""b".c') == TableName('a"b', "c")
    assert TableName("public", "Mixed Case").sql == '"public"."Mixed Case"'
    for bad in ["a.b.c", '"open.x', "a.", ".b"]:
        with pytest.raises(ConfigurationError):
            TableName.parse(bad)


def test_filter() -> None:
    everything = TableFilter()
    assert everything.matches(TableName("public", "a"))
    assert not everything.matches(TableName("pg_catalog", "pg_class"))
    only = TableFilter(include=("public.sales_*", "shop.*"), exclude=("public.sales_tmp",))
    assert only.matches(TableName("public", "sales_order"))
    assert only.matches(TableName("shop", "x"))
    assert not only.matches(TableName("public", "sales_tmp"))
    assert not only.matches(TableName("public", "staff"))
