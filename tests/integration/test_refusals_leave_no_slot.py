"""A snapshot or capture that is refused leaves no slot of its own behind (a slot pins WAL).

Each refusal path runs against the real server; afterwards ``pg_replication_slots`` has no
slot of that name, or, when the slot existed before the run, the same slot as before.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgcdc.cdc_reader.capture import CaptureOptions, drain
from pgcdc.cdc_reader.snapshot import SnapshotOptions, snapshot
from pgcdc.schemas.errors import PgcdcError, SourceError, StorageDeniedError
from pgcdc.schemas.tables import TableFilter, TableName
from pgcdc.storage import Store, open_store
from tests.harness import PgServer

pytestmark = pytest.mark.integration

SlotRow = tuple[str, str, str]  # plugin, restart_lsn, confirmed_flush_lsn


@pytest.fixture
def raw(tmp_path: Path) -> Store:
    return open_store(str(tmp_path / "raw"))


def slot_row(dsn: str, name: str) -> SlotRow | None:
    """The slot as pg_replication_slots shows it, or None."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT plugin, restart_lsn::text, confirmed_flush_lsn::text "
            "FROM pg_replication_slots WHERE slot_name = %s",
            (name,),
        ).fetchone()
    return (str(row[0]), str(row[1]), str(row[2])) if row else None


def slots_like(dsn: str, prefix: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT slot_name FROM pg_replication_slots WHERE starts_with(slot_name, %s)",
            (prefix,),
        ).fetchall()
    return [str(r[0]) for r in rows]


def execute(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def earlier_slot(dsn: str, name: str, plugin: str = "wal2json") -> SlotRow:
    """A slot left by an earlier run, then some WAL, so a new slot would start later."""
    execute(dsn, f"SELECT pg_create_logical_replication_slot('{name}', '{plugin}')")
    execute(dsn, "CREATE TABLE wal_after_slot (id int PRIMARY KEY)", "DROP TABLE wal_after_slot")
    row = slot_row(dsn, name)
    assert row is not None
    return row


def keyless_table(dsn: str) -> None:
    execute(
        dsn,
        "CREATE TABLE kept (id int PRIMARY KEY, v text)",
        "CREATE TABLE audit_log (at timestamptz, what text)",  # REPLICA IDENTITY DEFAULT
    )


def created_a_slot(caplog: pytest.LogCaptureFixture) -> bool:
    """Whether the run logged creating a slot (a refusal must come before that)."""
    return any(r.getMessage() in ("slot created", "created slot") for r in caplog.records)


# --- snapshot ------------------------------------------------------------------------------


def test_snapshot_refused_for_replica_identity_creates_no_slot(
    pg_dsn: str, slot_name: str, raw: Store, caplog: pytest.LogCaptureFixture
) -> None:
    keyless_table(pg_dsn)
    caplog.set_level(logging.INFO, logger="pgcdc")
    with pytest.raises(SourceError, match=r"public\.audit_log.*REPLICA IDENTITY FULL"):
        snapshot(pg_dsn, raw, SnapshotOptions(slot=slot_name))
    assert slot_row(pg_dsn, slot_name) is None
    assert not created_a_slot(caplog)
    assert raw.list_keys() == []


def test_snapshot_refused_keeps_an_earlier_unfinished_slot(
    pg_dsn: str, slot_name: str, raw: Store
) -> None:
    keyless_table(pg_dsn)
    before = earlier_slot(pg_dsn, slot_name)
    with pytest.raises(SourceError, match="REPLICA IDENTITY"):
        snapshot(pg_dsn, raw, SnapshotOptions(slot=slot_name))
    assert slot_row(pg_dsn, slot_name) == before


def test_snapshot_of_no_table_creates_no_slot(
    pg_dsn: str, slot_name: str, raw: Store, caplog: pytest.LogCaptureFixture
) -> None:
    keyless_table(pg_dsn)
    caplog.set_level(logging.INFO, logger="pgcdc")
    options = SnapshotOptions(slot=slot_name, table_filter=TableFilter(include=("nosuch.*",)))
    with pytest.raises(SourceError, match="no table to snapshot"):
        snapshot(pg_dsn, raw, options)
    assert slot_row(pg_dsn, slot_name) is None
    assert not created_a_slot(caplog)


def test_snapshot_leaves_another_plugins_slot_alone(
    pg_dsn: str, slot_name: str, raw: Store
) -> None:
    execute(pg_dsn, "CREATE TABLE kept (id int PRIMARY KEY, v text)")
    before = earlier_slot(pg_dsn, slot_name, plugin="test_decoding")
    with pytest.raises(SourceError, match="not logical/wal2json"):
        snapshot(pg_dsn, raw, SnapshotOptions(slot=slot_name))
    assert slot_row(pg_dsn, slot_name) == before


def test_refused_second_bootstrap_and_resnapshot_leave_the_slot_as_it_was(
    pg_dsn: str, slot_name: str, raw: Store
) -> None:
    execute(pg_dsn, "CREATE TABLE kept (id int PRIMARY KEY, v text)")
    snapshot(pg_dsn, raw, SnapshotOptions(slot=slot_name))
    before = slot_row(pg_dsn, slot_name)
    with pytest.raises(SourceError, match="re-snapshot tables with"):
        snapshot(pg_dsn, raw, SnapshotOptions(slot=slot_name))
    missing = SnapshotOptions(slot=slot_name, tables=(TableName("public", "nosuch"),))
    with pytest.raises(SourceError, match="not captured tables"):
        snapshot(pg_dsn, raw, missing)
    assert slot_row(pg_dsn, slot_name) == before
    assert slots_like(pg_dsn, f"{slot_name}_resnap_") == []


def test_snapshot_failing_after_the_slot_exists_drops_it(
    pg_dsn: str, slot_name: str, raw: Store, tmp_path: Path
) -> None:
    execute(pg_dsn, "CREATE TABLE kept (id int PRIMARY KEY, v text)", "INSERT INTO kept VALUES (1)")
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "public.kept").write_text("a file where the table's folder goes")
    # the copy cannot write its part: a path below a file is permanent (terminal)
    with pytest.raises(StorageDeniedError, match="cannot write"):
        snapshot(pg_dsn, raw, SnapshotOptions(slot=slot_name))
    assert slot_row(pg_dsn, slot_name) is None


# --- capture -------------------------------------------------------------------------------


def test_capture_refused_for_replica_identity_creates_no_slot(
    pg_dsn: str, slot_name: str, raw: Store, caplog: pytest.LogCaptureFixture
) -> None:
    keyless_table(pg_dsn)
    caplog.set_level(logging.INFO, logger="pgcdc")
    with pytest.raises(SourceError, match=r"public\.audit_log.*REPLICA IDENTITY FULL"):
        drain(pg_dsn, raw, CaptureOptions(slot=slot_name))
    assert slot_row(pg_dsn, slot_name) is None
    assert not created_a_slot(caplog)


def test_capture_refused_keeps_the_existing_slot(pg_dsn: str, slot_name: str, raw: Store) -> None:
    keyless_table(pg_dsn)
    before = earlier_slot(pg_dsn, slot_name)
    with pytest.raises(SourceError, match="REPLICA IDENTITY"):
        drain(pg_dsn, raw, CaptureOptions(slot=slot_name))
    assert slot_row(pg_dsn, slot_name) == before


def test_capture_leaves_another_plugins_slot_alone(pg_dsn: str, slot_name: str, raw: Store) -> None:
    execute(pg_dsn, "CREATE TABLE kept (id int PRIMARY KEY, v text)")
    before = earlier_slot(pg_dsn, slot_name, plugin="test_decoding")
    with pytest.raises(SourceError, match="not logical/wal2json"):
        drain(pg_dsn, raw, CaptureOptions(slot=slot_name))
    assert slot_row(pg_dsn, slot_name) == before


def test_capture_refused_after_creating_the_slot_drops_it(
    pg_dsn: str, slot_name: str, raw: Store
) -> None:
    """The slot was dropped behind pgcdc's back: the new one would start after the stored
    position, so the capture is refused, and the slot it had to create goes again."""
    execute(pg_dsn, "CREATE TABLE kept (id int PRIMARY KEY, v text)")
    drain(pg_dsn, raw, CaptureOptions(slot=slot_name))
    execute(
        pg_dsn, f"SELECT pg_drop_replication_slot('{slot_name}')", "INSERT INTO kept VALUES (1)"
    )
    with pytest.raises(SourceError, match="something else consumed the slot"):
        drain(pg_dsn, raw, CaptureOptions(slot=slot_name))
    assert slot_row(pg_dsn, slot_name) is None


# --- a role without the privileges ---------------------------------------------------------


@pytest.fixture
def limited_role(pg_server: PgServer, pg_dsn: str) -> Iterator[tuple[str, str]]:
    """(name, DSN) of a login role that may read the tables but has no REPLICATION."""
    role = f"norepl_{uuid.uuid4().hex[:8]}"
    password = "Secret-Pw-456"
    execute(
        pg_server.admin_dsn,
        f"CREATE ROLE {role} LOGIN NOREPLICATION PASSWORD '{password}'",
    )
    info = {k: str(v) for k, v in conninfo_to_dict(pg_dsn).items()}
    try:
        yield role, make_conninfo(**{**info, "user": role, "password": password})
    finally:
        pg_server.drop_database(info["dbname"])
        execute(pg_server.admin_dsn, f"DROP ROLE {role}")


@pytest.mark.parametrize("command", ["snapshot", "capture"])
def test_no_replication_privilege_creates_no_slot_and_keeps_an_earlier_one(
    pg_dsn: str, slot_name: str, raw: Store, limited_role: tuple[str, str], command: str
) -> None:
    role, dsn = limited_role
    execute(pg_dsn, "CREATE TABLE kept (id int PRIMARY KEY, v text)")
    execute(pg_dsn, f"GRANT SELECT ON kept TO {role}")
    with pytest.raises(PgcdcError, match="replication role"):
        run(command, dsn, raw, slot_name)
    assert slot_row(pg_dsn, slot_name) is None
    before = earlier_slot(pg_dsn, slot_name)  # and a slot of an earlier run is kept
    with pytest.raises(PgcdcError, match="replication role"):
        run(command, dsn, raw, slot_name)
    assert slot_row(pg_dsn, slot_name) == before


def run(command: str, dsn: str, raw: Store, slot: str) -> None:
    if command == "snapshot":
        snapshot(dsn, raw, SnapshotOptions(slot=slot))
    else:
        drain(dsn, raw, CaptureOptions(slot=slot))
