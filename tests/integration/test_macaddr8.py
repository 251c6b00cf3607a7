"""macaddr8, added to the type contract by one registry record: wal2json capture and the
snapshot keep the source's values (its kind and warehouse type: test_type_registry.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pgcdc.cdc_reader.capture import CaptureOptions, drain
from pgcdc.cdc_reader.snapshot import SnapshotOptions, snapshot
from pgcdc.schemas import layout
from pgcdc.schemas.tables import TableFilter, TableName
from pgcdc.storage import Store, open_store
from tests.fixtures.record_wal2json import session

pytestmark = pytest.mark.integration

TABLE = TableName("public", "mac8")
ROWS = """
INSERT INTO mac8 VALUES
 (1, '08:00:2b:01:02:03:04:05', ARRAY['08002b0102030405', NULL]::macaddr8[]),
 (2, 'FF-FF-FF-FF-FF-FF-FF-FF', '{}'),
 (3, NULL, NULL),
 (4, '0800.2b01.0203', ARRAY['00:00:00:00:00:00:00:00'::macaddr8])
"""


def source(pg_dsn: str) -> list[tuple[object, ...]]:
    """The rows as Postgres prints them (macaddr8's canonical text)."""
    query = "SELECT id, m::text, ma::text[] FROM mac8 ORDER BY id"
    with session(pg_dsn) as conn:
        return [tuple(r) for r in conn.execute(query).fetchall()]


def stored(raw: Store, key: str) -> pa.Table:
    return pq.read_table(raw.path(key)).sort_by("id").select(["id", "m", "ma"])


@pytest.mark.parametrize("path_through", ["capture", "snapshot"])
def test_macaddr8_values_are_the_sources(
    pg_dsn: str, slot_name: str, tmp_path: Path, path_through: str
) -> None:
    raw = open_store(str(tmp_path))
    only = TableFilter(("public.mac8",))
    with session(pg_dsn) as conn:
        conn.execute("CREATE TABLE mac8 (id int PRIMARY KEY, m macaddr8, ma macaddr8[])")
        if path_through == "capture":
            conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot_name,))
        conn.execute(ROWS)
    if path_through == "capture":
        drain(pg_dsn, raw, CaptureOptions(slot=slot_name, table_filter=only))
        [key] = [k for k in raw.list_keys(TABLE.qualified) if k.endswith(".parquet")]
    else:
        snapshot(pg_dsn, raw, SnapshotOptions(slot=slot_name, table_filter=only, workers=1))
        [key] = layout.readable_objects(raw.list_keys(TABLE.qualified))
    table = stored(raw, key)
    assert table.schema.field("m").type == pa.string()
    assert table.schema.field("ma").type == pa.list_(pa.string())
    assert [tuple(r.values()) for r in table.to_pylist()] == source(pg_dsn)
