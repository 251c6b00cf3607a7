"""Every record reader of the lake layer checks the record's version and refuses an unknown
one with an error naming the object; records written before LSNs were typed still read.

The stores are local folders (real files through :class:`pgcdc.storage.Store`)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pgcdc.schemas import layout, processed
from pgcdc.schemas.errors import TerminalError
from pgcdc.schemas.layout import Intent, Position, SnapshotManifest
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.processed import Batch, TableProgress, TransformCheck
from pgcdc.schemas.tables import TableName
from pgcdc.storage import Store, open_store
from pgcdc.storage.lake import processed as processed_lake
from pgcdc.storage.lake import raw as raw_lake
from pgcdc.transformer.runner import transform
from pgcdc.warehouse_loader.duckdb_warehouse import DuckDBWarehouse
from pgcdc.warehouse_loader.loader import load

pytestmark = pytest.mark.unit

T0 = dt.datetime(2026, 12, 3, 12, tzinfo=dt.UTC)
TABLE = TableName("a.b", "c")
LSN = Lsn.parse("1/A0")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(str(tmp_path / "store"))


def _rewrite(store: Store, key: str, **changes: Any) -> None:
    doc = json.loads(store.read_bytes(key))
    doc.update(changes)
    store.write_bytes(key, json.dumps({k: v for k, v in doc.items() if v is not None}).encode())


def _position(store: Store) -> tuple[str, Callable[[], object]]:
    raw_lake.save_position(store, Position(slot="s", lsn=LSN, written_at=T0))
    return layout.position_key("s", LSN), lambda: raw_lake.latest_position(store, "s")


def _intent(store: Store) -> tuple[str, Callable[[], object]]:
    intent = Intent(slot="s", first=Lsn(5), last=LSN, max_rows=1, max_bytes=1)
    raw_lake.save_intent(store, intent)
    return layout.intent_key("s", Lsn(5), LSN), lambda: raw_lake.latest_intent(store, "s")


def _manifest(store: Store) -> tuple[str, Callable[[], object]]:
    parts = [(layout.snapshot_file_key(TABLE, LSN, n), 2) for n in (0, 1)]
    manifest = raw_lake.save_snapshot_manifest(store, TABLE, LSN, parts)
    assert manifest == SnapshotManifest(
        table=("a.b", "c"), lsn=LSN, rows=4, parts=("part-00000.parquet", "part-00001.parquet")
    )
    key = layout.snapshot_manifest_key(TABLE, LSN)
    return key, lambda: raw_lake.read_snapshot_manifest(store, TABLE, LSN)


def _batch(store: Store) -> tuple[str, Callable[[], object]]:
    processed_lake.save_batch(store, Batch(run=3, bound=LSN, created_at=T0))
    return processed.batch_key(3), lambda: processed_lake.latest_batch(store)


READERS = {"position": _position, "intent": _intent, "manifest": _manifest, "batch": _batch}


@pytest.mark.parametrize("record", sorted(READERS))
def test_a_record_round_trips_through_its_reader(store: Store, record: str) -> None:
    _, read = READERS[record](store)
    found = read()
    assert found is not None and found.version == 1


@pytest.mark.parametrize("version", [2, 0, "1", None])
@pytest.mark.parametrize("record", sorted(READERS))
def test_a_record_of_another_version_is_refused_naming_its_key(
    store: Store, record: str, version: object
) -> None:
    key, read = READERS[record](store)
    _rewrite(store, key, version=version)
    with pytest.raises(TerminalError, match=re.escape(f"{store.url(key)} has version {version!r}")):
        read()


@pytest.mark.parametrize("record", sorted(READERS))
def test_a_record_that_is_no_record_is_refused_naming_its_key(store: Store, record: str) -> None:
    key, read = READERS[record](store)
    store.write_bytes(key, b'{"version": 1}')
    with pytest.raises(TerminalError, match=re.escape(store.url(key))):
        read()
    store.write_bytes(key, b"not json")
    with pytest.raises(TerminalError, match=re.escape(f"{store.url(key)} is not JSON")):
        read()


def test_records_written_with_numeric_lsns_read_as_lsns(store: Store) -> None:
    """Manifests and checks written before LSNs were typed held numbers."""
    key, _ = _batch(store)
    _rewrite(store, key, bound=int(LSN), tables={"public.t": {"position": 7, "key": ["id"]}})
    batch = processed_lake.read_batch(store, key)
    assert batch.bound == LSN and batch.tables["public.t"] == TableProgress(
        position=Lsn(7), key=("id",)
    )
    assert json.loads(Batch(run=1, bound=LSN, created_at=T0).model_dump_json())["bound"] == "1/A0"


def test_the_transform_check_is_advisory(store: Store) -> None:
    """An unreadable check is ignored (status only), and one written before it carried a
    version is read as version 1."""
    assert processed_lake.latest_check(store) is None
    processed_lake.save_check(store, TransformCheck(run=1, bound=LSN, checked_at=T0))
    check = processed_lake.latest_check(store)
    assert check is not None and check.bound == LSN
    _rewrite(store, processed.CHECK_KEY, version=None, bound=int(LSN))
    assert processed_lake.latest_check(store) == check
    _rewrite(store, processed.CHECK_KEY, version=2)
    assert processed_lake.latest_check(store) is None


def test_the_newest_record_is_found_across_folders(store: Store) -> None:
    """Positions and intents in several upper-32-bit folders; batches in several folders of
    10,000 runs: the newest is the last of the last folder holding one."""
    for lsn in (Lsn(5), Lsn((1 << 32) + 5), Lsn((2 << 32) + 1), Lsn((2 << 32) + 0x10)):
        raw_lake.save_position(store, Position(slot="s", lsn=lsn, written_at=T0))
        raw_lake.save_intent(store, Intent(slot="s", first=lsn, last=lsn, max_rows=1, max_bytes=1))
    newest = Lsn((2 << 32) + 0x10)
    found = raw_lake.latest_position(store, "s")
    assert found is not None and found.lsn == newest
    intent = raw_lake.latest_intent(store, "s")
    assert intent is not None and intent.last == newest
    assert raw_lake.latest_position(store, "other") is None
    for run in (1, 9999, 10000, 10001):
        processed_lake.save_batch(store, Batch(run=run, bound=Lsn(run), created_at=T0))
    latest = processed_lake.latest_batch(store)
    assert latest is not None and latest.run == 10001
    assert processed_lake.batch_keys(store, 9999) == [
        processed.batch_key(10000),
        processed.batch_key(10001),
    ]
    assert [b.run for b in processed_lake.committed_batches(store)] == [1, 9999, 10000, 10001]


def test_the_loader_and_the_transformer_refuse_a_record_of_another_version(
    tmp_path: Path,
) -> None:
    """The two readers that used to skip the check: the loader's manifests and the
    transformer's capture bound (the newest position record)."""
    raw, processed_store = open_store(str(tmp_path / "raw")), open_store(str(tmp_path / "p"))
    key, _ = _batch(processed_store)
    _rewrite(processed_store, key, version=2)
    warehouse = DuckDBWarehouse(str(tmp_path / "wh.duckdb"))
    try:
        with pytest.raises(TerminalError, match=re.escape(f"{processed_store.url(key)} has")):
            load(processed_store, warehouse)
    finally:
        warehouse.close()
    key, _ = _position(raw)
    _rewrite(raw, key, version=2)
    with pytest.raises(TerminalError, match=re.escape(f"{raw.url(key)} has version 2")):
        transform(raw, open_store(str(tmp_path / "p2")), slot="s")


def test_a_quarantined_output_round_trips_and_a_broken_one_names_its_row() -> None:
    output = processed.Output(
        target="fact_sales_order",
        kind=processed.Kind.FACT,
        key=("sales_order_id",),
        objects=("fact_sales_order/date=2026-12-03/0000000001-00000001000000A0.parquet",),
    )
    assert processed.parse_output(processed.output_text(output), "row") == output
    where = "run 7 of fact_sales_order in pgcdc_load_quarantine"
    broken = json.dumps({**json.loads(processed.output_text(output)), "kind": "cube"})
    with pytest.raises(TerminalError, match=re.escape(f"quarantined output {where}: kind:")):
        processed.parse_output(broken, where)
