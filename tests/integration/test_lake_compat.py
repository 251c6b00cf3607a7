"""Table folders are escaped now; a raw store written before (in the old layout) still works.

A table whose name holds a dot or ``=`` went to ``<schema>.<table>`` unescaped before. Here
its first changes are captured, then moved to the folder the old code wrote them to (the
objects are byte for byte what it wrote: only the folder name changed); the next changes
land in the escaped folder. The transformer, ``pgcdc status``, ``pgcdc query`` and the
dropped-table spec read both folders as one table: every row, once.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from pgcdc.cdc_reader.capture import CaptureOptions, drain
from pgcdc.cdc_reader.dropped import spec_from_raw
from pgcdc.readside import query
from pgcdc.readside.status import pipeline_status
from pgcdc.schemas import layout
from pgcdc.schemas.settings import Settings
from pgcdc.schemas.tables import TableName
from pgcdc.storage import open_store
from pgcdc.storage.lake.processed import latest_batch
from pgcdc.storage.lake.raw import captured_tables, table_objects
from pgcdc.transformer.runner import transform
from tests.lake import reconstruct, source_rows

pytestmark = pytest.mark.integration

ODD = TableName("public", "v1.0=x")
PLAIN = TableName("public", "plain")


def test_a_store_in_the_old_layout_is_read_with_the_new_one(
    pg_dsn: str, slot_name: str, tmp_path: Path
) -> None:
    raw, processed = open_store(str(tmp_path / "raw")), open_store(str(tmp_path / "proc"))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for table in (ODD, PLAIN):
            conn.execute(f"CREATE TABLE {table.sql} (id int PRIMARY KEY, v text)")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot_name,))
        conn.execute(f"INSERT INTO {ODD.sql} SELECT g, 'old' FROM generate_series(1, 5) g")
        conn.execute(f"INSERT INTO {PLAIN.sql} VALUES (1, 'p')")
        drain(pg_dsn, raw, CaptureOptions(slot=slot_name))
        new_folder, old_folder = layout.table_prefix(ODD), layout.legacy_table_prefix(ODD)
        assert (new_folder, old_folder) == ("public.v1%2E0%3Dx", "public.v1.0=x")
        assert layout.table_prefix(PLAIN) == "public.plain"  # ordinary names: unchanged
        assert raw.list_keys(PLAIN.qualified)
        # the store as the old code left it: the same objects under the unescaped name
        Path(raw.path(new_folder)).rename(raw.path(old_folder))
        assert not raw.list_keys(new_folder) and raw.list_keys(old_folder)

        conn.execute(f"UPDATE {ODD.sql} SET v = 'new' WHERE id <= 2")
        conn.execute(f"INSERT INTO {ODD.sql} VALUES (6, 'new')")
        drain(pg_dsn, raw, CaptureOptions(slot=slot_name))
        assert raw.list_keys(new_folder) and raw.list_keys(old_folder)
        expected = source_rows(conn, ODD)

    assert captured_tables(raw) == [PLAIN, ODD]
    objects = table_objects(raw, ODD)
    assert {o.key.split("/", 1)[0] for o in objects} == {new_folder, old_folder}
    assert reconstruct(raw, ODD, ["id"]) == expected

    result = transform(raw, processed, slot=slot_name)
    # every change once: ODD's 5 inserts, 2 updates, 1 insert; PLAIN's insert
    assert result.run == 1 and result.changes == 5 + 2 + 1 + 1
    batch = latest_batch(processed)
    assert batch is not None and batch.tables["public.v1%2E0%3Dx"].position == batch.bound

    warehouse = str(tmp_path / "wh.duckdb")
    found = pipeline_status(pg_dsn, raw, processed, warehouse, Settings(slot=slot_name))
    status = next(t for t in found.tables if t.table == ODD.qualified)
    assert status.objects == len(objects) and status.changes == 5 + 2 + 1
    assert status.pending_changes == 0

    spec = spec_from_raw(raw, ODD)
    assert spec is not None and [c.name for c in spec.columns] == ["id", "v"]

    session = query.open_session(raw, processed)
    try:
        rows = session.con.execute(f"SELECT id, v FROM {ODD.sql} ORDER BY id").fetchall()
    finally:
        session.close()
    assert rows == sorted(expected)
