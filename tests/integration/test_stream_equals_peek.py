"""Capture's stream delivers exactly what ``pg_logical_slot_peek_changes`` gives for the same
slot and options (the SQL function as the oracle; capture no longer reads through it), and a
reader may stop early without losing its connection or moving the slot."""

from __future__ import annotations

import psycopg
import pytest

from pgcdc.cdc_reader import reader
from pgcdc.cdc_reader.replication import ReplicationStream
from pgcdc.cdc_reader.wal2json import SESSION_SETTINGS
from pgcdc.schemas.lsn import ZERO, Lsn
from tests.fixtures.record_wal2json import peek

pytestmark = pytest.mark.integration


def test_the_stream_gives_the_peek_rows_and_can_stop_early(pg_dsn: str, slot_name: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as setup:
        setup.execute("CREATE TABLE item (id int PRIMARY KEY, name text, at timestamptz)")
        setup.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot_name,))
        for i in range(7):
            setup.execute(
                "INSERT INTO item VALUES (%s, %s, now()), (%s, 'x', NULL)", (i, f"n{i}", 100 + i)
            )
        setup.execute("UPDATE item SET name = 'y' WHERE id < 3")
        for name, value in SESSION_SETTINGS.items():  # the stream's settings, for the peek too
            setup.execute(f"SET {name} = '{value}'")
        end = Lsn.parse(str(setup.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]))
        expected = [(Lsn.parse(r["lsn"]), r["data"]) for r in peek(setup, slot_name)]
        options = reader.plugin_options([], numeric_as_string=False)
        with ReplicationStream(
            pg_dsn, slot_name, ZERO, options, end=end, settings=SESSION_SETTINGS
        ) as stream:
            got = [(m.start, m.payload.decode()) for m in stream]
        assert len(expected) == 7 * 4 + 5  # B, two inserts, C per insert; B, 3 updates, C
        assert got == expected
        with ReplicationStream(
            pg_dsn, slot_name, ZERO, options, end=end, settings=SESSION_SETTINGS
        ) as stream:
            first = [stream.get(timeout=30) for _ in range(5)]
        assert [(m.start, m.payload.decode()) for m in first if m] == expected[:5]
        assert setup.execute("SELECT count(*) FROM item").fetchone() == (14,)
        # nothing was marked durable: the slot did not move, the changes are still pending
        assert [(Lsn.parse(r["lsn"]), r["data"]) for r in peek(setup, slot_name)] == expected
