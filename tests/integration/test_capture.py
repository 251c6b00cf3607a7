"""Capture on a real Postgres with wal2json, into a local raw store and into S3 over HTTP."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pyarrow.compute as pc
import pytest

from pgcdc.cdc_reader.capture import CaptureOptions, drain
from pgcdc.devtools.demo import init_demo, run_workload
from pgcdc.schemas.tables import TableName
from pgcdc.storage import Store
from tests.integration.capture_support import (
    DEMO_TABLES,
    assert_lake_equals_source,
    make_store,
)
from tests.lake import change_files, changes, reconstruct

pytestmark = pytest.mark.integration


@pytest.fixture(params=["local", "s3"])
def raw(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return make_store(request, tmp_path, request.param)


def create_slot(dsn: str, slot: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot,))


def test_demo_workload_reconstructs_exactly(pg_dsn: str, slot_name: str, raw: Store) -> None:
    """Slot on empty tables, seed + workload + truncate + key change; the lake equals SELECT *."""
    create_slot(pg_dsn, slot_name)
    options = CaptureOptions(slot=slot_name, max_batch_rows=700)
    init_demo(pg_dsn, scale=0.02)
    first = drain(pg_dsn, raw, options)
    # the seed is one transaction of ~1,700 rows: written in parts of 700, one batch
    assert first.batches == 1 and first.files > 11
    run_workload(pg_dsn, rate=0, duration=2, seed=11)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            'CREATE TABLE public."Mixed Case, Table" ("Id" int PRIMARY KEY, "a value" text)'
        )
        conn.execute("""INSERT INTO "Mixed Case, Table" VALUES (1, 'one'), (2, 'two')""")
        conn.execute("""UPDATE "Mixed Case, Table" SET "Id" = 20 WHERE "Id" = 2""")
        conn.execute("CREATE TABLE scratch (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO scratch SELECT g, 'x' || g FROM generate_series(1, 50) g")
        conn.execute("TRUNCATE scratch")
        conn.execute("INSERT INTO scratch VALUES (7, 'after truncate')")
        # a primary-key change cascades to the rows that refer to it
        conn.execute("UPDATE design SET design_id = 90000 WHERE design_id = 1")
        with conn.transaction():
            conn.execute("UPDATE staff SET department_id = 2 WHERE staff_id = 1")
            conn.execute("UPDATE department SET department_name = 'Sales & Marketing'")
    run_workload(pg_dsn, rate=0, duration=1, seed=12)
    drain(pg_dsn, raw, options)
    counts = assert_lake_equals_source(pg_dsn, raw)
    assert counts[TableName("public", "Mixed Case, Table")] == 2
    assert counts[TableName("public", "scratch")] == 1
    assert {TableName("public", t) for t in DEMO_TABLES} <= set(counts)
    ops = changes(raw, TableName("public", "scratch"))
    assert ops is not None and "t" in ops.column("_op").to_pylist()
    moved = changes(raw, TableName("public", "Mixed Case, Table"))
    assert moved is not None
    update = moved.filter(pc.equal(moved.column("_op"), "u")).to_pylist()
    assert update[0]["_old_key"] == {"Id": 2} and update[0]["Id"] == 20


def test_toasted_value_is_carried_forward(pg_dsn: str, slot_name: str, raw: Store) -> None:
    """A 1 MB text untouched by an update is not sent again; the lake keeps it."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE doc (id int PRIMARY KEY, body text, n int)")
        create_slot(pg_dsn, slot_name)
        big = "".join(chr(65 + (i * 7919) % 26) for i in range(1_000_000))  # incompressible-ish
        conn.execute("INSERT INTO doc VALUES (1, %s, 0)", (big,))
        conn.execute("UPDATE doc SET n = 1 WHERE id = 1")
    drain(pg_dsn, raw, CaptureOptions(slot=slot_name))
    data = changes(raw, TableName("public", "doc"))
    assert data is not None
    update = data.filter(pc.equal(data.column("_op"), "u")).to_pylist()[0]
    assert update["_unchanged"] == ["body"]
    assert update["body"] is None
    assert reconstruct(raw, TableName("public", "doc"), ["id"]) == [(1, big, 1)]


def test_rerun_without_changes_writes_nothing_new(pg_dsn: str, slot_name: str, raw: Store) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        create_slot(pg_dsn, slot_name)
        conn.execute("INSERT INTO t SELECT generate_series(1, 10)")
    options = CaptureOptions(slot=slot_name)
    first = drain(pg_dsn, raw, options)
    files = change_files(raw, TableName("public", "t"))
    again = drain(pg_dsn, raw, options)
    assert first.rows == 10 and again.rows == 0
    assert change_files(raw, TableName("public", "t")) == files
    assert again.position is not None and first.position is not None
    assert again.position >= first.position
