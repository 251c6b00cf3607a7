"""Capture modes: the idle-slot heartbeat, the time budget, and --follow."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
import pytest

from pgcdc.cdc_reader.capture import CaptureOptions, drain
from pgcdc.schemas.tables import TableFilter, TableName
from pgcdc.storage import Store
from tests.integration.capture_support import (
    Following,
    assert_lake_equals_source,
    make_store,
    settings_env,
)
from tests.lake import reconstruct

pytestmark = pytest.mark.integration

WAL_PER_ROUND = 8 * 1024 * 1024


@pytest.fixture(params=["local", "s3"])
def raw(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return make_store(request, tmp_path, request.param)


def retained_wal(conn: psycopg.Connection[tuple[object, ...]], slot: str) -> int:
    row = conn.execute(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint "
        "FROM pg_replication_slots WHERE slot_name = %s",
        (slot,),
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


def test_idle_slot_keeps_retained_wal_bounded(pg_dsn: str, slot_name: str, raw: Store) -> None:
    """Only a non-captured table changes: the heartbeat still lets the slot move on."""
    options = CaptureOptions(slot=slot_name, table_filter=TableFilter(include=("public.quiet",)))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE quiet (id int PRIMARY KEY)")
        conn.execute("CREATE TABLE noisy (id bigserial PRIMARY KEY, pad text)")
        drain(pg_dsn, raw, options)  # creates the slot
        retained = []
        for _ in range(4):
            conn.execute(
                "INSERT INTO noisy (pad) SELECT repeat('x', 1000) FROM generate_series(1, %s)",
                (WAL_PER_ROUND // 1000,),
            )
            conn.execute("CHECKPOINT")  # logs the running transactions, as the server does
            result = drain(pg_dsn, raw, options)
            assert result.rows == 0
            retained.append(retained_wal(conn, slot_name))
        # four rounds wrote over 32 MB of WAL; the slot holds on to about one round at most
        assert max(retained) < 2 * WAL_PER_ROUND, retained
        assert raw.list_keys("public.noisy") == []


def test_time_budget_stops_cleanly_and_the_next_run_continues(
    pg_dsn: str, slot_name: str, raw: Store
) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot_name,))
        for i in range(30):
            conn.execute(
                "INSERT INTO t SELECT g, %s FROM generate_series(%s::int, %s::int) g",
                (i, i * 100, i * 100 + 99),
            )
    options = CaptureOptions(slot=slot_name, time_budget=0.0, max_batch_rows=100)
    first = drain(pg_dsn, raw, options)
    assert first.stopped_by_budget
    assert 0 < first.rows < 3000
    assert first.remaining_bytes is not None and first.remaining_bytes > 0
    assert "stopped by the time budget" in first.describe()
    rest = drain(pg_dsn, raw, CaptureOptions(slot=slot_name))
    assert first.rows + rest.rows == 3000
    assert_lake_equals_source(pg_dsn, raw)


def test_follow_captures_continuously_and_stops_on_sigterm(
    pg_dsn: str, slot_name: str, raw: Store
) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE live (id int PRIMARY KEY, v text)")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot_name,))
    env = settings_env(pg_dsn, raw, slot_name)
    # each row is committed only once the one before it is in the raw store, so the rows
    # arrive in different drains however slowly the process starts
    with (
        Following(env, flush_every=0.5) as follow,
        psycopg.connect(pg_dsn, autocommit=True) as conn,
    ):
        for i in range(3):
            conn.execute("INSERT INTO live VALUES (%s, 'x')", (i,))
            # generous: one drain takes well under a second alone, but a CI worker shares
            # two cores with three others
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                if len(reconstruct(raw, TableName("public", "live"), ["id"])) == i + 1:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError(f"follow mode did not capture row {i}")
    assert follow.returncode == 0, follow.stderr
    err = follow.stderr
    drains = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    assert sum(1 for d in drains if str(d["message"]).startswith("captured")) >= 2
