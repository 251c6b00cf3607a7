"""`pgcdc query` without services: LSN macros, output-format rules, as-of on a tiny local lake."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.query import QueryError, open_session, output_format, run_sql, write_result
from schemas import layout
from schemas.errors import ConfigurationError
from schemas.lsn import Lsn
from schemas.pgtypes import SOURCE_KEY_KEY
from schemas.tables import TableName
from storage import open_store

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _lake(tmp_path: Path) -> str:
    """One table, two batches: insert 1 and 2 at 0/100, then update 1 and delete 2 at 0/200."""
    raw = open_store(str(tmp_path / "raw"))
    table = TableName("public", "t")
    batches = [
        (0x100, T0, [(1, "a", "c"), (2, "b", "c")]),
        (0x200, T0 + dt.timedelta(minutes=1), [(1, "z", "u"), (2, None, "d")]),
    ]
    for lsn, at, changes in batches:
        rows = pa.table(
            {
                "id": pa.array([c[0] for c in changes], pa.int32()),
                "v": pa.array([c[1] for c in changes], pa.string()),
                "_op": [c[2] for c in changes],
                "_lsn": pa.array([lsn] * len(changes), pa.int64()),
                "_seq": pa.array(range(len(changes)), pa.int64()),
                "_xid": pa.array([7] * len(changes), pa.int64()),
                "_commit_ts": pa.array([at] * len(changes), pa.timestamp("us", tz="UTC")),
                "_unchanged": pa.nulls(len(changes), pa.list_(pa.string())),
                "_old_key": pa.nulls(len(changes), pa.struct([("id", pa.int32())])),
            }
        ).replace_schema_metadata({SOURCE_KEY_KEY: json.dumps(["id"]).encode()})
        key = layout.change_file_key(table, at, Lsn(lsn), Lsn(lsn))
        raw.write_parquet(key, rows)
    return raw.uri


def test_lsn_macros_match_the_lsn_type(tmp_path: Path) -> None:
    session = open_session(open_store(str(tmp_path / "empty")))
    for text in ("0/0", "0/16B3748", "16/B374D848", "7FFFFFFF/FFFFFFFF"):
        got = session.con.execute("SELECT pg_lsn(?), lsn_text(pg_lsn(?))", [text, text]).fetchall()
        assert got == [(int(Lsn.parse(text)), str(Lsn.parse(text)))]


def test_as_of_lsn_time_and_bad_point(tmp_path: Path) -> None:
    session = open_session(open_store(_lake(tmp_path)))
    con = session.con
    assert sorted(con.execute("SELECT * FROM t_as_of('0/100')").fetchall()) == [(1, "a"), (2, "b")]
    assert con.execute("SELECT * FROM t_as_of(255)").fetchall() == []
    assert con.execute("SELECT * FROM t_as_of(?::TIMESTAMPTZ)", [T0]).fetchall() != []
    assert con.execute("SELECT * FROM t_as_of('0/200')").fetchall() == [(1, "z")]
    assert con.execute("SELECT * FROM t").fetchall() == [(1, "z")]
    ops = con.execute("SELECT _op, _lsn FROM t_history").fetchall()
    assert ops == [
        ("insert", "0/100"),
        ("insert", "0/100"),
        ("update", "0/200"),
        ("delete", "0/200"),
    ]
    relation = run_sql(con, "SELECT * FROM t_as_of('yesterday-ish')")
    assert relation is not None
    with pytest.raises(QueryError, match="neither an LSN nor a timestamp"):
        write_result(relation, "csv", None)


def test_output_format_rules() -> None:
    assert output_format(None, None) == "table"
    assert output_format(None, "x.parquet") == "parquet"
    assert output_format(None, "x.json") == "json"
    assert output_format(None, "x.txt") == "csv"
    assert output_format("json", None) == "json"
    with pytest.raises(ConfigurationError, match="needs --output"):
        output_format("parquet", None)
    with pytest.raises(ConfigurationError, match="prints to the terminal"):
        output_format("table", "x.csv")
