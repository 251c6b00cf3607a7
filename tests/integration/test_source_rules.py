"""`pgcdc check` and capture give the same answer, because they ask the same functions.

Each rule is tried from both sides on the real server (PostgreSQL 15 with wal2json): which
tables are captured (partitions, never a partitioned table), which lack a replica identity
(NOTHING with a primary key; a partition under a FULL partitioned table), and which
existing slot is not pgcdc's (another database's).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import psycopg
import pytest

from pgcdc.cdc_reader.capture import CaptureOptions, drain
from pgcdc.cdc_reader.preflight import CheckResult, Status, capture_is_safe, run_checks
from pgcdc.cdc_reader.snapshot import SnapshotOptions, snapshot
from pgcdc.schemas.errors import SourceError
from pgcdc.schemas.tables import TableFilter, TableName
from pgcdc.storage import Store, open_store
from tests.harness import PgServer
from tests.lake import changes

pytestmark = pytest.mark.integration

EVERYTHING = TableFilter()
PARTITIONED = (
    "CREATE TABLE parted (id int, v text) PARTITION BY RANGE (id)",
    "CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10)",
    "CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM (10) TO (20)",
)


@pytest.fixture
def raw(tmp_path: Path) -> Store:
    return open_store(str(tmp_path / "raw"))


def execute(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def check(dsn: str, slot: str, name: str, table_filter: TableFilter = EVERYTHING) -> CheckResult:
    found = [r for r in run_checks(dsn, slot=slot, table_filter=table_filter) if r.name == name]
    assert len(found) == 1
    return found[0]


def partitions_with_identity(dsn: str) -> None:
    """The partitioned table has no key and REPLICA IDENTITY DEFAULT; its partitions FULL."""
    execute(
        dsn,
        *PARTITIONED,
        "ALTER TABLE parted_1 REPLICA IDENTITY FULL",
        "ALTER TABLE parted_2 REPLICA IDENTITY FULL",
    )


def test_check_counts_partitions_not_the_partitioned_table(pg_dsn: str, slot_name: str) -> None:
    partitions_with_identity(pg_dsn)
    results = run_checks(pg_dsn, slot=slot_name, table_filter=EVERYTHING)
    by_name = {r.name: r for r in results}
    assert by_name["replica_identity"].status is Status.OK, by_name["replica_identity"]
    assert by_name["captured_tables"].message == (
        "2 tables captured: public.parted_1, public.parted_2"
    )
    assert capture_is_safe(results)


def test_capture_stores_partitions_under_their_own_names(
    pg_dsn: str, slot_name: str, raw: Store
) -> None:
    """wal2json names each change after its partition, so this is safe to capture."""
    partitions_with_identity(pg_dsn)
    drain(pg_dsn, raw, CaptureOptions(slot=slot_name))  # creates the slot
    execute(
        pg_dsn,
        "INSERT INTO parted VALUES (1, 'a'), (2, 'b'), (15, 'c')",
        "UPDATE parted SET v = 'changed' WHERE id = 1",
        "DELETE FROM parted WHERE id = 15",
    )
    result = drain(pg_dsn, raw, CaptureOptions(slot=slot_name))
    assert result.rows == 5
    ops = Counter[str]()
    for partition in ("parted_1", "parted_2"):
        table = changes(raw, TableName("public", partition))
        assert table is not None
        ops.update(table.column("_op").to_pylist())
    assert ops == Counter({"c": 3, "u": 1, "d": 1})
    assert changes(raw, TableName("public", "parted")) is None


def identity_only_on_the_partitioned_table(dsn: str) -> None:
    """REPLICA IDENTITY FULL on the partitioned table leaves its partitions at DEFAULT:
    without a key, wal2json drops their updates and deletes."""
    execute(dsn, PARTITIONED[0], "ALTER TABLE parted REPLICA IDENTITY FULL", *PARTITIONED[1:])


def test_check_fails_partitions_without_identity_of_their_own(pg_dsn: str, slot_name: str) -> None:
    identity_only_on_the_partitioned_table(pg_dsn)
    found = check(pg_dsn, slot_name, "replica_identity")
    assert found.status is Status.FAIL
    assert found.message.endswith(": public.parted_1, public.parted_2")


def test_capture_refuses_partitions_without_identity_of_their_own(
    pg_dsn: str, slot_name: str, raw: Store
) -> None:
    identity_only_on_the_partitioned_table(pg_dsn)
    with pytest.raises(SourceError, match=r"public\.parted_1, public\.parted_2 — wal2json"):
        drain(pg_dsn, raw, CaptureOptions(slot=slot_name))


def identity_nothing_with_a_key(dsn: str) -> None:
    """wal2json drops a NOTHING table's updates and deletes, primary key or not."""
    execute(
        dsn,
        "CREATE TABLE keyed (id int PRIMARY KEY)",
        "CREATE TABLE nothing (id int PRIMARY KEY)",
        "ALTER TABLE nothing REPLICA IDENTITY NOTHING",
    )


def test_check_fails_replica_identity_nothing_with_a_key(pg_dsn: str, slot_name: str) -> None:
    identity_nothing_with_a_key(pg_dsn)
    found = check(pg_dsn, slot_name, "replica_identity")
    assert found.status is Status.FAIL
    assert found.message.endswith("drops their updates and deletes: public.nothing")


def test_capture_refuses_replica_identity_nothing_with_a_key(
    pg_dsn: str, slot_name: str, raw: Store
) -> None:
    identity_nothing_with_a_key(pg_dsn)
    with pytest.raises(SourceError, match=r"NOTHING: public\.nothing — "):
        drain(pg_dsn, raw, CaptureOptions(slot=slot_name))


def test_a_filter_naming_only_a_partitioned_table_captures_nothing(
    pg_dsn: str, slot_name: str, raw: Store
) -> None:
    execute(pg_dsn, *PARTITIONED, "CREATE TABLE other (id int PRIMARY KEY)")
    only_parent = TableFilter(include=("public.parted",))
    found = check(pg_dsn, slot_name, "captured_tables", only_parent)
    assert found.status is Status.FAIL
    assert "1 table partitioned without any of its partitions captured: public.parted" in (
        found.message
    )
    assert found.fix is not None and "PGCDC_TABLES" in found.fix
    with pytest.raises(SourceError, match="no table to snapshot"):
        snapshot(pg_dsn, raw, SnapshotOptions(slot=slot_name, table_filter=only_parent))
    # with the partitions matched too, both agree that it is fine
    both = TableFilter(include=("public.parted", "public.parted_*"))
    assert check(pg_dsn, slot_name, "captured_tables", both).message == (
        "2 tables captured: public.parted_1, public.parted_2"
    )


def test_capture_refuses_a_slot_of_another_database(
    pg_dsn: str, pg_server: PgServer, slot_name: str, raw: Store
) -> None:
    """`pgcdc check`'s side is test_preflight.py's test_slot_in_another_database_fails."""
    execute(pg_dsn, "CREATE TABLE kept (id int PRIMARY KEY)")
    other = pg_server.create_database("other")
    try:
        execute(
            pg_server.dsn(other),
            f"SELECT pg_create_logical_replication_slot('{slot_name}', 'wal2json')",
        )
        with pytest.raises(SourceError) as refused:
            drain(pg_dsn, raw, CaptureOptions(slot=slot_name))
    finally:
        pg_server.drop_database(other)
    assert str(refused.value).startswith(f"slot {slot_name} belongs to database {other}, not ")
    assert f"pg_drop_replication_slot('{slot_name}')" in str(refused.value)
