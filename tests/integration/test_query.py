"""`pgcdc query`: history, current state and state as of an LSN or a time equal the source.

The source state is recorded at two points (rows, ``pg_current_wal_lsn()``, the server's
clock) between commits; the lake, captured afterwards, must give back exactly those rows.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest

from pgcdc.readside.query import Session, open_session
from pgcdc.schemas.tables import TableName
from pgcdc.storage import Store, open_store
from tests.integration.capture_support import make_store, pgcdc, settings_env
from tests.lake import source_rows

pytestmark = pytest.mark.integration

TABLES = (TableName("public", "item"), TableName("public", "line"))
SETUP = (
    "CREATE TABLE item (id int PRIMARY KEY, name text, price numeric(10,2), tags text[], "
    "seen timestamptz)",
    "CREATE TABLE line (order_id int, line_no int, qty int, PRIMARY KEY (order_id, line_no))",
    "INSERT INTO item SELECT g, 'item ' || g, g * 1.25, ARRAY['t' || g], "
    "'2024-01-01 00:00+00'::timestamptz + g * interval '1 hour' FROM generate_series(1, 5) g",
    "INSERT INTO line SELECT g / 3, g % 3, g FROM generate_series(1, 8) g",
)
FIRST = (  # after the snapshot: inserts and updates
    "INSERT INTO item VALUES (6, 'six', 6.50, ARRAY['a', NULL], now())",
    "UPDATE item SET price = 99.99, tags = '{}' WHERE id = 2",
    "INSERT INTO line VALUES (7, 0, 70), (7, 1, 71)",
)
SECOND = (  # deletes, a key change, a truncate, several changes of one key in one transaction
    "DELETE FROM item WHERE id = 3",
    "UPDATE item SET id = 30 WHERE id = 4",
    "BEGIN; UPDATE item SET name = 'two' WHERE id = 2; UPDATE item SET name = 'TWO' "
    "WHERE id = 2; INSERT INTO item VALUES (7, 'seven', NULL, NULL, NULL); COMMIT",
    "TRUNCATE line",
    "INSERT INTO line VALUES (1, 1, 11)",
)
FINAL = (
    "UPDATE item SET name = NULL WHERE id = 30",
    "DELETE FROM line WHERE order_id = 1",
    "INSERT INTO line VALUES (2, 2, 22)",
)


@dataclass(frozen=True)
class Point:
    """The source as it was between two commits."""

    lsn: str
    at: str
    rows: dict[TableName, list[tuple[Any, ...]]]


@dataclass(frozen=True)
class Lake:
    raw: Store
    env: dict[str, str]
    first: Point
    second: Point
    final: Point


def record(conn: psycopg.Connection[Any]) -> Point:
    row = conn.execute("SELECT pg_current_wal_lsn()::text, clock_timestamp()::text").fetchone()
    assert row is not None
    return Point(row[0], row[1], {t: source_rows(conn, t) for t in TABLES})


def run(conn: psycopg.Connection[Any], statements: tuple[str, ...]) -> None:
    for statement in statements:
        conn.execute(statement)


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, pg_dsn: str, slot_name: str, tmp_path: Path) -> Lake:
    """Seed, snapshot, two recorded points, more changes, one capture."""
    raw = make_store(request, tmp_path, request.param)
    env = settings_env(
        pg_dsn,
        raw,
        slot_name,
        PGCDC_PROCESSED_URI=str(tmp_path / "processed"),
        PGCDC_WAREHOUSE_URI=str(tmp_path / "warehouse.duckdb"),
    )
    if not raw.is_local:
        env["PGCDC_PROCESSED_URI"] = raw.uri.rsplit("/", 1)[0] + "/processed"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        run(conn, SETUP)
        done = pgcdc("snapshot", env=env)
        assert done.returncode == 0, done.stderr
        run(conn, FIRST)
        first = record(conn)
        run(conn, SECOND)
        second = record(conn)
        run(conn, FINAL)
        final = record(conn)
    done = pgcdc("capture", env=env)
    assert done.returncode == 0, done.stderr
    return Lake(raw, env, first, second, final)


@pytest.fixture
def session(lake: Lake) -> Iterator[Session]:
    opened = open_session(lake.raw)
    yield opened
    opened.close()


def rows(session: Session, sql: str, *params: object) -> list[tuple[Any, ...]]:
    return sorted((tuple(r) for r in session.con.execute(sql, list(params)).fetchall()), key=repr)


def test_state_as_of_each_lsn_and_time_equals_the_recorded_source(
    lake: Lake, session: Session
) -> None:
    for point in (lake.first, lake.second, lake.final):
        for table in TABLES:
            want = point.rows[table]
            assert want, f"{table} is empty at {point.lsn}: the workload proves nothing"
            by_lsn = rows(session, f"SELECT * FROM {table.name}_as_of(?)", point.lsn)
            assert by_lsn == want, f"{table} as of LSN {point.lsn}"
            by_time = rows(session, f"SELECT * FROM {table.name}_as_of(?::TIMESTAMPTZ)", point.at)
            assert by_time == want, f"{table} as of {point.at}"
            as_text = rows(session, f"SELECT * FROM {table.name}_as_of(?)", point.at)
            assert as_text == want, f"{table} as of '{point.at}' (text)"
    assert lake.first.rows != lake.second.rows != lake.final.rows
    number = rows(session, "SELECT pg_lsn(?)", lake.first.lsn)[0][0]
    assert rows(session, "SELECT * FROM item_as_of(?)", number) == lake.first.rows[TABLES[0]]


def test_current_state_equals_the_final_source(lake: Lake, session: Session) -> None:
    for table in TABLES:
        assert rows(session, f"SELECT * FROM {table.qualified}") == lake.final.rows[table]
        assert rows(session, f"SELECT * FROM {table.name}") == lake.final.rows[table]


def test_history_names_each_change_with_its_lsn_and_commit_time(
    lake: Lake, session: Session
) -> None:
    history = session.con.execute(
        "SELECT id, _op, _lsn, _lsn_int, _commit_ts, name FROM item_history"
    ).fetchall()
    ops = {}
    for key, op, lsn, number, _, _ in history:
        ops.setdefault(key, []).append(op)
        assert re.fullmatch(r"[0-9A-F]+/[0-9A-F]+", lsn) and rows(
            session, "SELECT pg_lsn(?)", lsn
        ) == [(number,)]
    assert ops[2] == ["snapshot", "update", "update", "update"]
    assert ops[3] == ["snapshot", "delete"]
    assert ops[30] == ["update", "update"]  # the key change (old key 4), then the name
    assert ops[4] == ["snapshot"]
    first, second = _lsn_int(session, lake.first.lsn), _lsn_int(session, lake.second.lsn)
    update = [h for h in history if h[0] == 2 and h[1] == "update"]
    assert update[0][3] <= first < update[1][3] == update[2][3] <= second  # one transaction
    assert update[1][5] == "two" and update[2][5] == "TWO"
    times = rows(session, "SELECT ?::TIMESTAMPTZ, ?::TIMESTAMPTZ", lake.first.at, lake.second.at)
    assert update[0][4] <= times[0][0] < update[1][4] <= times[0][1]
    old_key = session.con.execute(
        "SELECT _old_key FROM item_history WHERE id = 30 AND _op = 'update' ORDER BY _lsn_int"
    ).fetchall()
    assert old_key[0][0] == {"id": 4}
    line_ops = [r[0] for r in session.con.execute("SELECT _op FROM line_history").fetchall()]
    assert line_ops.count("truncate") == 1 and "delete" in line_ops and "insert" in line_ops


def _lsn_int(session: Session, lsn: str) -> int:
    value = session.con.execute("SELECT pg_lsn(?)", [lsn]).fetchone()
    assert value is not None
    return int(value[0])


def test_command_formats_and_files(lake: Lake, tmp_path: Path) -> None:
    """The command line: SQL argument and -f file; table, CSV, JSON and Parquet output."""
    sql = "SELECT id, name, price FROM item ORDER BY id"
    want = sorted((r[0], r[1], r[2]) for r in lake.final.rows[TABLES[0]])

    as_csv = pgcdc("query", sql, "--format", "csv", env=lake.env)
    assert as_csv.returncode == 0, as_csv.stderr
    got = [tuple(r) for r in csv.reader(io.StringIO(as_csv.stdout))]
    assert got[0] == ("id", "name", "price")
    assert got[1:] == [(str(i), n or "", str(p) if p is not None else "") for i, n, p in want]

    as_json = pgcdc("query", sql, "--format", "json", env=lake.env)
    assert as_json.returncode == 0, as_json.stderr
    docs = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(d["id"], d["name"], _dec(d["price"])) for d in docs] == want

    file = tmp_path / "q.sql"
    file.write_text(f"SELECT 1 AS one;\n{sql};\n")
    out = tmp_path / "out.parquet"
    as_parquet = pgcdc("query", "-f", str(file), "--output", str(out), env=lake.env)
    assert as_parquet.returncode == 0, as_parquet.stderr
    table = pq.read_table(out)
    assert list(zip(*(table.column(i).to_pylist() for i in range(3)), strict=True)) == want

    as_table = pgcdc("query", "SELECT count(*) AS n FROM item_history", env=lake.env)
    assert as_table.returncode == 0 and "│" in as_table.stdout
    broken = pgcdc("query", "SELECT * FROM no_such_table", env=lake.env)
    assert broken.returncode == 2 and "no_such_table" in broken.stderr


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def test_processed_store_and_warehouse_views(lake: Lake, tmp_path: Path) -> None:
    """After transform and load: the processed mirrors and the read-only warehouse."""
    for step in ("transform", "load"):
        done = pgcdc(step, env=lake.env)
        assert done.returncode == 0, done.stderr
    processed = open_store(lake.env["PGCDC_PROCESSED_URI"], endpoint_url=_endpoint(lake))
    warehouse = lake.env["PGCDC_WAREHOUSE_URI"]
    session = open_session(lake.raw, processed, warehouse)
    try:
        for table in TABLES:
            want = lake.final.rows[table]
            assert rows(session, f"SELECT * FROM processed.mirror_public_{table.name}") == want
            assert rows(session, f"SELECT * FROM warehouse.mirror_public.{table.name}") == want
        assert rows(session, "SELECT count(*) FROM processed.batches") == [(1,)]
        with pytest.raises(Exception, match="read-only"):
            session.con.execute("DELETE FROM warehouse.mirror_public.item")
    finally:
        session.close()
    interactive = pgcdc_input(lake.env, ".tables\nSELECT count(*) AS n\nFROM item;\n.quit\n")
    assert interactive.returncode == 0, interactive.stderr
    assert "item_history" in interactive.stdout
    assert re.search(rf"│\s+{len(lake.final.rows[TABLES[0]])} │", interactive.stdout)
    as_csv = pgcdc_input(
        lake.env, "SELECT count(*) AS n FROM warehouse.mirror_public.item;\n", "--format", "csv"
    )
    assert as_csv.returncode == 0, as_csv.stderr
    assert f"n\n{len(lake.final.rows[TABLES[0]])}\n" in as_csv.stdout and "│" not in as_csv.stdout


CURRENCY = (  # the shipped model's dim_currency reads public.currency
    "CREATE TABLE currency (currency_id int PRIMARY KEY, currency_code text)",
    "INSERT INTO currency VALUES (1, 'GBP'), (2, 'USD'), (3, 'EUR')",
)
LATER = (  # between two transform runs: an update and a delete
    "UPDATE currency SET currency_code = 'JPY' WHERE currency_id = 2",
    "DELETE FROM currency WHERE currency_id = 3",
)


def test_processed_dimension_view_equals_the_warehouse_after_runs(lake: Lake, pg_dsn: str) -> None:
    """Two transform runs with an update and a delete between them, then a load: the
    processed dimension view is one row per key, equal to the warehouse table (a union of
    the runs' rows would hold key 2 twice)."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        run(conn, CURRENCY)
        for steps, statements in ((("capture", "transform"), LATER), (("capture",), ())):
            for step in steps:
                done = pgcdc(step, env=lake.env)
                assert done.returncode == 0, done.stderr
            run(conn, statements)
    for step in ("transform", "load"):
        done = pgcdc(step, env=lake.env)
        assert done.returncode == 0, done.stderr
    processed = open_store(lake.env["PGCDC_PROCESSED_URI"], endpoint_url=_endpoint(lake))
    session = open_session(lake.raw, processed, lake.env["PGCDC_WAREHOUSE_URI"])
    try:
        assert rows(session, "SELECT count(*) FROM processed.batches") == [(2,)]
        dim = rows(session, "SELECT currency_id, currency_code FROM processed.dim_currency")
        # type 1: the newest values per key; the loader never deletes a dimension row
        assert dim == [(1, "GBP"), (2, "JPY"), (3, "EUR")]
        assert rows(session, "SELECT * FROM processed.dim_currency") == rows(
            session, "SELECT * FROM warehouse.dim_currency"
        )
    finally:
        session.close()


def _endpoint(lake: Lake) -> str | None:
    return lake.env.get("PGCDC_S3_ENDPOINT_URL")


def pgcdc_input(env: dict[str, str], text: str, *args: str) -> Any:
    """``pgcdc query [args]`` at its prompt, fed ``text`` on standard input."""
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "pgcdc.pipeline.cli", "query", *args],
        env={**os.environ, **env},
        input=text,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
