"""`pgcdc query` without services: LSN macros, output-format rules, as-of on a tiny local lake."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pgcdc.readside.query import QueryError, open_session, output_format, run_sql, write_result
from pgcdc.schemas import layout
from pgcdc.schemas.errors import ConfigurationError, TransientError
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.pgtypes import SOURCE_KEY_KEY
from pgcdc.schemas.processed import Batch, Output, target_key
from pgcdc.schemas.tables import TableName
from pgcdc.storage import Store, open_store
from pgcdc.transformer.batches import save_batch

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
    at = "SELECT * FROM t_as_of(?::TIMESTAMPTZ) ORDER BY id"
    assert con.execute(at, [T0]).fetchall() == [(1, "a"), (2, "b")]
    assert con.execute(at, [T0 + dt.timedelta(seconds=59)]).fetchall() == [(1, "a"), (2, "b")]
    assert con.execute(at, [T0 + dt.timedelta(minutes=1)]).fetchall() == [(1, "z")]
    assert con.execute(at, [T0 - dt.timedelta(seconds=1)]).fetchall() == []
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


def test_as_of_slashed_date_is_a_time_not_an_lsn(tmp_path: Path) -> None:
    """'2026/01/01' is midnight (before the 0/200 change), '2025/12/31' before everything;
    read as LSNs (0x2026 << 32 …) both would hold every change."""
    con = open_session(open_store(_lake(tmp_path))).con
    by_text = "SELECT * FROM t_as_of(?) ORDER BY id"
    assert con.execute(by_text, ["2026/01/01"]).fetchall() == [(1, "a"), (2, "b")]
    assert con.execute(by_text, ["2025/12/31"]).fetchall() == []
    assert con.execute(by_text, ["2026/01/02"]).fetchall() == [(1, "z")]
    assert con.execute(by_text, ["0/1FF"]).fetchall() == [(1, "a"), (2, "b")]
    relation = run_sql(con, "SELECT * FROM t_as_of('1/2/3/4')")
    assert relation is not None
    with pytest.raises(QueryError, match="neither an LSN nor a timestamp"):
        write_result(relation, "csv", None)


def _batch(processed: Store, run: int, outputs: list[tuple[str, str, str, pa.Table]]) -> None:
    """A committed batch: (target, kind, key, rows) per output, objects then the manifest."""
    written = []
    for target, kind, key, rows in outputs:
        obj = target_key(target, run, run, T0.date())
        processed.write_parquet(obj, rows)
        entity = "order_id" if kind == "fact" else None
        written.append(Output(target=target, kind=kind, key=(key,), objects=(obj,), entity=entity))
    save_batch(processed, Batch(run=run, bound=run, created_at=T0, outputs=tuple(written)))


def _fact(rows: list[tuple[int, int, int, bool]]) -> pa.Table:
    """(order_id, source_lsn, units, deleted) rows; the record id is lsn * 10 + order_id."""
    return pa.table(
        {
            "record_id": [r[1] * 10 + r[0] for r in rows],
            "order_id": [r[0] for r in rows],
            "units": [r[2] for r in rows],
            "source_lsn": [r[1] for r in rows],
            "source_seq": [0 for _ in rows],
            "deleted": [r[3] for r in rows],
        }
    )


def test_processed_dimension_views_hold_the_newest_row_per_key(tmp_path: Path) -> None:
    """Two runs: the dimension view is one row per key (run 2's where it changed); the fact
    view keeps every version, its ``_current`` the newest one unless deleted."""
    processed = open_store(str(tmp_path / "processed"))
    dim = "dim_staff"
    _batch(
        processed,
        1,
        [
            (dim, "dimension", "staff_id", pa.table({"staff_id": [1, 2], "name": ["a", "b"]})),
            ("dim_date", "derived", "date_id", pa.table({"date_id": [T0.date()], "day": [1]})),
            ("fact_order", "fact", "record_id", _fact([(1, 10, 5, False), (2, 10, 7, False)])),
        ],
    )
    _batch(
        processed,
        2,
        [
            (dim, "dimension", "staff_id", pa.table({"staff_id": [2, 3], "name": ["B", "c"]})),
            ("dim_date", "derived", "date_id", pa.table({"date_id": [T0.date()], "day": [1]})),
            ("fact_order", "fact", "record_id", _fact([(1, 20, 6, False), (2, 20, 7, True)])),
        ],
    )
    session = open_session(open_store(str(tmp_path / "raw")), processed)
    try:
        con = session.con
        got = con.execute(f"SELECT * FROM processed.{dim} ORDER BY ALL").fetchall()
        assert got == [(1, "a"), (2, "B"), (3, "c")]
        assert con.execute("SELECT count(*) FROM processed.dim_date").fetchall() == [(1,)]
        versions = con.execute("SELECT order_id, units FROM processed.fact_order ORDER BY ALL")
        assert versions.fetchall() == [(1, 5), (1, 6), (2, 7), (2, 7)]
        current = con.execute("SELECT order_id, units FROM processed.fact_order_current")
        assert current.fetchall() == [(1, 6)]
        assert "fact_order_current" in session.processed_views
    finally:
        session.close()


def test_warehouse_attached_per_statement_leaves_the_file_free(tmp_path: Path) -> None:
    """A prompt's session attaches the warehouse only around a statement naming it: between
    statements another process (the loader) can open the file read-write."""
    file = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(file)) as con:
        con.execute("CREATE TABLE dim_x AS SELECT 1 AS id")
    session = open_session(open_store(str(tmp_path / "raw")), None, str(file), hold_warehouse=False)
    try:
        assert session.warehouse == str(file) and _writer_can_open(file)
        sql = "SELECT count(*) FROM warehouse.dim_x"
        with session.warehouse_attached(sql):
            assert session.con.execute(sql).fetchall() == [(1,)]
            assert not _writer_can_open(file)
        assert _writer_can_open(file)
        with session.warehouse_attached("SELECT 1"), pytest.raises(duckdb.Error):
            session.con.execute(sql)
    finally:
        session.close()
    held = open_session(open_store(str(tmp_path / "raw")), None, str(file))
    try:
        assert not _writer_can_open(file)
    finally:
        held.close()


def _writer_can_open(file: Path) -> bool:
    """Whether another process can open the file read-write (as the loader does)."""
    code = f"import duckdb; duckdb.connect({str(file)!r}).execute('SELECT 1')"
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, timeout=120
    )
    return done.returncode == 0


def test_a_file_that_is_no_warehouse_fails_at_once_not_as_a_lock(tmp_path: Path) -> None:
    """Only lock errors are retried and reported as a running load."""
    file = tmp_path / "warehouse.duckdb"
    file.write_bytes(b"not a duckdb file" * 512)
    with pytest.raises(duckdb.Error) as raised:
        open_session(open_store(str(tmp_path / "raw")), None, str(file))
    assert not isinstance(raised.value, TransientError)
    assert "load running" not in str(raised.value)


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
