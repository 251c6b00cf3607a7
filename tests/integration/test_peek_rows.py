"""The reader's peek: streamed in chunks (libpq 17+) or fetched through a server cursor."""

from __future__ import annotations

import psycopg
import pytest

from pgcdc.cdc_reader import reader
from pgcdc.cdc_reader.source import connect
from tests.fixtures.record_wal2json import peek

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("streamed", [True, False])
def test_both_ways_read_the_same_rows_and_can_stop_early(
    pg_dsn: str, slot_name: str, streamed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not streamed:
        monkeypatch.setattr(reader, "_CHUNKED_ROWS_LIBPQ", 10**9)
    elif psycopg.pq.version() < reader._CHUNKED_ROWS_LIBPQ:
        pytest.skip("libpq older than 17: no chunked rows")
    with psycopg.connect(pg_dsn, autocommit=True) as setup:
        setup.execute("CREATE TABLE item (id int PRIMARY KEY, name text)")
        setup.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot_name,))
        for i in range(7):
            setup.execute("INSERT INTO item VALUES (%s, %s), (%s, 'x')", (i, f"n{i}", 100 + i))
        expected = [(r["lsn"], r["xid"], r["data"]) for r in peek(setup, slot_name)]
    options = reader.plugin_options([], numeric_as_string=False)
    with connect(pg_dsn) as conn:
        got = list(reader.peek_rows(conn, slot_name, options, upto=None, fetch_size=4))
        assert got == expected
        stream = reader.peek_rows(conn, slot_name, options, upto=None, fetch_size=4)
        assert [next(stream) for _ in range(5)] == expected[:5]
        stream.close()  # the time budget stops a drain like this
        row = conn.execute("SELECT count(*) FROM item").fetchone()
        assert row == (14,)
