"""The streaming replication reader against the real test server, with wal2json and pgoutput
slots: messages arrive, the stream stops at a fixed end LSN, keepalives and status updates
keep a connection with a short wal_sender_timeout alive, and the slot's confirmed_flush_lsn
never passes what the caller marked durable."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pgcdc.cdc_reader import pgoutput
from pgcdc.cdc_reader.replication import ReplicationStream, XLogData
from pgcdc.schemas.errors import SourceError, TransientError
from pgcdc.schemas.lsn import Lsn

pytestmark = pytest.mark.integration

WAL2JSON = {"format-version": "2"}
PGOUTPUT = {"proto_version": "1", "publication_names": "pub"}
PLUGINS = {"wal2json": WAL2JSON, "pgoutput": PGOUTPUT}


@pytest.fixture(params=sorted(PLUGINS))
def plugin(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def source(
    pg_dsn: str, slot_name: str, plugin: str
) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A table ``t``, its publication and a slot of the plugin, made after them."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        conn.execute("CREATE PUBLICATION pub FOR TABLE t")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, %s)", (slot_name, plugin))
        yield conn


def insert(conn: psycopg.Connection[tuple[Any, ...]], first: int, count: int) -> Lsn:
    """``count`` rows, one transaction each; the WAL position after them."""
    for i in range(first, first + count):
        conn.execute("INSERT INTO t VALUES (%s, %s)", (i, f"row {i}"))
    return current_lsn(conn)


def current_lsn(conn: psycopg.Connection[tuple[Any, ...]]) -> Lsn:
    row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return Lsn.parse(row[0])


def inserted_ids(plugin: str, messages: list[XLogData]) -> list[int]:
    """The ids of the inserts among the messages, read with the plugin's own format."""
    if plugin == "wal2json":
        changes = [json.loads(m.payload) for m in messages]
        return [c["columns"][0]["value"] for c in changes if c["action"] == "I"]
    events = [pgoutput.decode(m.payload, m.start) for m in messages]
    return [int(str(e.new[0])) for e in events if isinstance(e, pgoutput.Insert)]


def confirmed_flush(conn: psycopg.Connection[tuple[Any, ...]], slot: str) -> Lsn:
    row = conn.execute(
        "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (slot,)
    ).fetchone()
    assert row is not None
    return Lsn.parse(row[0])


def slot_active(conn: psycopg.Connection[tuple[Any, ...]], slot: str) -> bool:
    row = conn.execute(
        "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
    ).fetchone()
    assert row is not None
    return bool(row[0])


def wait_for(condition: object, what: str, limit: float = 60.0) -> None:
    """Poll until ``condition()`` holds (a generous limit: the machine is shared)."""
    deadline = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("where", ["at-a-commit", "between-records", "past-the-last-change"])
def test_messages_arrive_and_the_stream_stops_at_its_end_lsn(
    pg_dsn: str,
    slot_name: str,
    plugin: str,
    source: psycopg.Connection[tuple[Any, ...]],
    where: str,
) -> None:
    end = insert(source, 1, 5)  # the last commit ends at the end, the next one starts there
    if where != "at-a-commit":  # or the end falls between WAL records no plugin decodes
        source.execute("CHECKPOINT")
        end = current_lsn(source)
        source.execute("CHECKPOINT")
    if where != "past-the-last-change":  # else only the server's keepalive shows the end
        insert(source, 6, 3)  # committed after the end: never delivered
    with ReplicationStream(pg_dsn, slot_name, Lsn(0), PLUGINS[plugin], end=end) as stream:
        messages = receive_all(stream)
    assert inserted_ids(plugin, messages) == [1, 2, 3, 4, 5]
    assert all(m.start <= end for m in messages)
    wait_for(lambda: not slot_active(source, slot_name), "the slot to be released")
    # the stream can be opened again: close() left the slot usable
    with ReplicationStream(pg_dsn, slot_name, Lsn(0), PLUGINS[plugin], end=end) as again:
        assert inserted_ids(plugin, receive_all(again)) == [1, 2, 3, 4, 5]


def receive_all(stream: ReplicationStream) -> list[XLogData]:
    """Every message until the stream ends by itself (a minute of silence fails)."""
    messages = []
    while (message := stream.get(timeout=60)) is not None:
        messages.append(message)
    assert stream.ended, "the stream did not end at its end position"
    return messages


def test_confirmed_flush_never_passes_the_durable_mark(
    pg_dsn: str, slot_name: str, plugin: str, source: psycopg.Connection[tuple[Any, ...]]
) -> None:
    created = confirmed_flush(source, slot_name)
    end = insert(source, 1, 6)
    with ReplicationStream(pg_dsn, slot_name, Lsn(0), PLUGINS[plugin], end=end) as stream:
        stream.status_interval = 0.05  # report often: a wrong flush shows quickly
        messages = []
        while (message := stream.get(timeout=60)) is not None:
            messages.append(message)
            assert confirmed_flush(source, slot_name) == created  # nothing durable yet
        durable = messages[len(messages) // 2].start  # the end is reached: still connected
        stream.mark_durable(durable)
        wait_for(lambda: confirmed_flush(source, slot_name) == durable, "the durable mark")
        sent = stream.status_sent
        wait_for(lambda: stream.status_sent > sent + 3, "more status updates")
        assert confirmed_flush(source, slot_name) == durable
        stream.status_interval = 3600.0  # no more periodic updates: only close() reports
        stream.mark_durable(messages[-2].start)
    assert confirmed_flush(source, slot_name) == messages[-2].start  # close()'s final status
    assert durable < messages[-2].start < messages[-1].start


def test_keepalive_replies_keep_a_short_timeout_connection_alive(
    pg_dsn: str, slot_name: str, plugin: str, source: psycopg.Connection[tuple[Any, ...]]
) -> None:
    short = {"wal_sender_timeout": "1000"}
    with ReplicationStream(pg_dsn, slot_name, Lsn(0), PLUGINS[plugin], settings=short) as stream:
        assert stream.status_interval == 0.5  # half the server's setting, read from it
        stream.status_interval = 3600.0  # from now on only the server's requests get answers
        assert stream.get(timeout=4.0) is None  # idle for 4 timeouts: the server asked for replies
        insert(source, 1, 1)
        first = stream.get(timeout=60)
        assert first is not None  # still connected (a lost connection raises here)


def test_status_updates_go_out_while_the_caller_is_slow(
    pg_dsn: str, slot_name: str, plugin: str, source: psycopg.Connection[tuple[Any, ...]]
) -> None:
    short = {"wal_sender_timeout": "1000"}
    end = insert(source, 1, 20)
    with ReplicationStream(pg_dsn, slot_name, Lsn(0), PLUGINS[plugin], end=end, queue_size=1,
                           settings=short) as stream:  # fmt: skip
        time.sleep(4.0)  # the receiver waits on a full queue for 4 timeouts
        assert inserted_ids(plugin, list(stream)) == list(range(1, 21))


def test_a_refused_start_is_one_error_without_the_password(
    pg_dsn: str, slot_name: str, plugin: str, source: psycopg.Connection[tuple[Any, ...]]
) -> None:
    password = str(psycopg.conninfo.conninfo_to_dict(pg_dsn)["password"])
    with pytest.raises(SourceError) as missing:
        ReplicationStream(pg_dsn, "no_such_slot", Lsn(0), PLUGINS[plugin])
    assert 'replication slot "no_such_slot" does not exist' in str(missing.value)
    first = ReplicationStream(pg_dsn, slot_name, Lsn(0), PLUGINS[plugin])
    with first, pytest.raises(SourceError) as busy:  # a slot serves one stream at a time
        ReplicationStream(pg_dsn, slot_name, Lsn(0), PLUGINS[plugin])
    assert f'replication slot "{slot_name}" is active' in str(busy.value)
    for error in (missing.value, busy.value):
        assert password not in str(error) and "\n" not in str(error).strip()


def test_a_lost_connection_reaches_the_caller(
    pg_dsn: str, slot_name: str, plugin: str, source: psycopg.Connection[tuple[Any, ...]]
) -> None:
    with ReplicationStream(pg_dsn, slot_name, Lsn(0), PLUGINS[plugin]) as stream:
        source.execute(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
            " WHERE slot_name = %s",
            (slot_name,),
        )
        with pytest.raises(TransientError, match="replication stream"):
            stream.get(timeout=60)
