"""The newest source commit rides each batch into ``pgcdc_load_state``; freshness reads it.

What the load Lambda reports as ``FreshnessSeconds`` comes from the warehouse alone, so the
commit time the transformer folded must reach the load state, for both warehouses, and a
warehouse whose load-state table predates the column must be upgraded in place.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgcdc.readside import status
from pgcdc.schemas.processed import batch_key
from pgcdc.schemas.settings import Settings
from pgcdc.schemas.tables import TableName
from pgcdc.storage import open_store
from pgcdc.transformer.batches import latest_batch, read_batch
from tests.integration.warehouse_support import Pipeline
from tests.lake import changes

pytestmark = pytest.mark.integration

# The load-state table as pgcdc created it before ``newest_commit`` existed.
OLD_LOAD_STATE = (
    "CREATE TABLE pgcdc_load_state (run BIGINT PRIMARY KEY, "
    "bound BIGINT NOT NULL, loaded_at TIMESTAMP WITH TIME ZONE NOT NULL)"
)


def _pipeline(dsn: str, slot: str, tmp_path: Path, warehouse_uri: str) -> Pipeline:
    """A table ``a`` and a slot."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE a (id int PRIMARY KEY, v text)")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot,))
    return Pipeline(
        dsn,
        slot,
        open_store(str(tmp_path / "raw")),
        open_store(str(tmp_path / "processed")),
        warehouse_uri,
    )


def _raw_newest(p: Pipeline, table: str) -> dt.datetime:
    """The newest ``_commit_ts`` the raw store holds for ``table``."""
    data = changes(p.raw, TableName("public", table))
    assert data is not None, table
    return max(data.column("_commit_ts").to_pylist())


def _load_state(p: Pipeline) -> list[tuple[Any, ...]]:
    return p.sql("SELECT run, newest_commit FROM pgcdc_load_state ORDER BY run")


def test_each_batch_records_the_newest_commit_and_freshness_reads_it(
    pg_dsn: str, slot_name: str, tmp_path: Path, warehouse_uri: str
) -> None:
    p = _pipeline(pg_dsn, slot_name, tmp_path, warehouse_uri)
    p.source("INSERT INTO a SELECT g, 'x' FROM generate_series(1, 20) g")
    p.source("UPDATE a SET v = 'y' WHERE id <= 5")
    p.capture()
    assert p.transform().run == 1
    assert p.load().batches == 1
    first = _raw_newest(p, "a")
    batch = latest_batch(p.processed)
    assert batch is not None and batch.newest_commit == first
    assert _load_state(p) == [(1, first)]
    assert status.warehouse_newest_commit(warehouse_uri) == first
    later = first + dt.timedelta(seconds=7)
    assert status.warehouse_freshness(warehouse_uri, now=later) == 7.0

    # A run with no change (capture only moved past its heartbeat) writes no batch (issue
    # 14 item 9) and so keeps the previous value: freshness never goes backwards, nor to
    # unknown.
    p.capture()
    transformed = p.transform()
    assert transformed.run is None and transformed.changes == 0
    assert p.load().batches == 0
    assert _load_state(p) == [(1, first)]
    assert status.warehouse_newest_commit(warehouse_uri) == first

    p.source("UPDATE a SET v = 'z' WHERE id = 7")
    p.cycle()
    newest = _raw_newest(p, "a")
    assert newest > first
    assert _load_state(p)[-1] == (2, newest)
    assert status.warehouse_newest_commit(warehouse_uri) == newest


def test_an_old_load_state_table_is_upgraded_and_old_manifests_load(
    pg_dsn: str, slot_name: str, tmp_path: Path, warehouse_uri: str
) -> None:
    p = _pipeline(pg_dsn, slot_name, tmp_path, warehouse_uri)
    p.source("INSERT INTO a SELECT g, 'x' FROM generate_series(1, 10) g")
    p.capture()
    assert p.transform().run == 1
    # As an older transformer wrote it: no newest_commit in the manifest.
    key = batch_key(1)
    doc = json.loads(p.processed.read_bytes(key))
    del doc["newest_commit"]
    p.processed.write_bytes(key, json.dumps(doc).encode())
    assert read_batch(p.processed, key).newest_commit is None
    # As an older loader left the warehouse: the table without the column, a row in it.
    p.sql(OLD_LOAD_STATE)
    p.sql("INSERT INTO pgcdc_load_state VALUES (0, 0, now())")
    assert status.warehouse_newest_commit(warehouse_uri) is None  # no column: not read

    assert p.load().batches == 1
    with p.warehouse() as wh, wh.transaction():
        assert wh.table_columns(None, "pgcdc_load_state") == [
            "run",
            "bound",
            "loaded_at",
            "newest_commit",
        ]
    assert _load_state(p) == [(0, None), (1, None)]
    # Nothing recorded: status falls back to the raw store's newest commit within the bound.
    settings = Settings(slot=slot_name)
    found = status.pipeline_status(pg_dsn, p.raw, p.processed, warehouse_uri, settings)
    assert found.newest_loaded_commit_at == _raw_newest(p, "a").isoformat()

    p.source("UPDATE a SET v = 'y' WHERE id = 3")
    p.cycle()
    middle = _raw_newest(p, "a")
    p.source("UPDATE a SET v = 'z' WHERE id = 4")
    p.cycle()  # a second batch: the upgraded table is used again as it is
    newest = _raw_newest(p, "a")
    assert newest > middle
    assert _load_state(p) == [(0, None), (1, None), (2, middle), (3, newest)]
    assert status.warehouse_newest_commit(warehouse_uri) == newest
    found = status.pipeline_status(pg_dsn, p.raw, p.processed, warehouse_uri, settings)
    assert found.newest_loaded_commit_at == newest.isoformat()
