"""Capture over the streaming replication protocol: a drain ends at the WAL position fixed
when it started, with whole transactions only, and its acknowledgement reaches the slot
through the stream's status updates (the slot is free again when the drain returns)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgcdc.cdc_reader import capture
from pgcdc.cdc_reader.capture import CaptureOptions, drain
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.tables import TableFilter, TableName
from pgcdc.storage import open_store
from tests.lake import reconstruct

pytestmark = pytest.mark.integration


def slot_row(conn: psycopg.Connection[Any], slot: str) -> tuple[Lsn, bool]:
    row = conn.execute(
        "SELECT confirmed_flush_lsn::text, active FROM pg_replication_slots WHERE slot_name = %s",
        (slot,),
    ).fetchone()
    assert row is not None
    return Lsn.parse(row[0]), bool(row[1])


def test_a_transaction_committed_after_the_end_waits_for_the_next_drain_whole(
    pg_dsn: str, slot_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Transaction ``late`` writes its rows before the drain fixes its end and commits
    after: the stream hands over its first records, the drain must leave it out entirely
    (a replay cuts the same batches) and the next drain must take it whole."""
    raw = open_store(str(tmp_path / "raw"))
    options = CaptureOptions(slot=slot_name, table_filter=TableFilter(include=("public.t",)))
    table = TableName("public", "t")
    with psycopg.connect(pg_dsn, autocommit=True) as conn, psycopg.connect(pg_dsn) as late:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        drain(pg_dsn, raw, options)  # creates the slot
        late.execute("INSERT INTO t SELECT g, 'late' FROM generate_series(1, 50) g")
        conn.execute("INSERT INTO t SELECT g, 'early' FROM generate_series(51, 60) g")
        # WAL that decodes to nothing, so the drain's end falls after the last commit before
        # it and the stream hands over the start of ``late`` before it reaches the end
        conn.execute("CHECKPOINT")
        real_start = capture._start
        ends: list[Lsn] = []

        def start_then_commit(*args: Any, **kwargs: Any) -> Any:
            planned = real_start(*args, **kwargs)
            ends.append(planned[-1])
            late.commit()  # after the drain fixed its end: it commits beyond it
            return planned

        monkeypatch.setattr(capture, "_start", start_then_commit)
        first = drain(pg_dsn, raw, options)
        assert first.rows == 10
        assert first.position is not None and first.position <= ends[0]
        assert sorted(reconstruct(raw, table, ["id"])) == [(i, "early") for i in range(51, 61)]
        confirmed, active = slot_row(conn, slot_name)
        assert confirmed == first.position and not active

        monkeypatch.setattr(capture, "_start", real_start)
        second = drain(pg_dsn, raw, options)
        assert second.rows == 50
        rows = sorted(reconstruct(raw, table, ["id"]))
        assert rows == [(i, "late") for i in range(1, 51)] + [(i, "early") for i in range(51, 61)]
        confirmed, active = slot_row(conn, slot_name)
        assert confirmed == second.position and not active


def test_back_to_back_drains_find_the_slot_free(
    pg_dsn: str, slot_name: str, tmp_path: Path
) -> None:
    """The server releases the slot before it completes the replication command, and a
    drain's close waits for that: the next drain is not refused as a concurrent capture,
    and the slot confirms exactly the position each drain stored."""
    raw = open_store(str(tmp_path / "raw"))
    options = CaptureOptions(slot=slot_name, table_filter=TableFilter(include=("public.u",)))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE u (id int PRIMARY KEY)")
        drain(pg_dsn, raw, options)
        for i in range(10):
            conn.execute("INSERT INTO u VALUES (%s)", (i,))
            result = drain(pg_dsn, raw, options)
            assert result.rows == 1
            assert slot_row(conn, slot_name) == (result.position, False)
