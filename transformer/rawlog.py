"""Reading the raw store: which change objects are new, and their rows."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from schemas import layout
from schemas.lsn import Lsn
from schemas.pgtypes import SOURCE_KEY_KEY
from schemas.tables import TableName
from storage import Store


@dataclass(frozen=True, slots=True)
class TableChanges:
    """The new changes of one table (``rows`` is None when there are none)."""

    table: TableName
    key: tuple[str, ...]
    rows: pa.Table | None


def capture_bound(raw: Store, slot: str) -> int | None:
    """The slot's newest capture position: every change up to it is durable in the raw store.

    The transformer reads no further, so it never sees a batch that is still being written.
    """
    for folder in reversed(raw.list_folders(layout.capture_state_prefix(slot))):
        keys = [k for k in raw.list_keys(folder) if k.endswith(".position.json")]
        if keys:
            return int(Lsn.coerce(json.loads(raw.read_bytes(keys[-1]))["lsn"]))
    return None


def captured_tables(raw: Store) -> list[TableName]:
    """Every table folder of the raw store."""
    names = [f.rsplit("/", 1)[-1] for f in raw.list_folders("")]
    return [TableName(*n.split(".", 1)) for n in names if not n.startswith(("_", ".")) and "." in n]


def object_lsn(key: str) -> int:
    """The last commit LSN an object holds, from its name (change file or snapshot part)."""
    parts = key.split("/")
    for part in parts:
        if part.startswith("snapshot="):
            return int(part[len("snapshot=") :], 16)
    return int(parts[-1].split(".", 1)[0].split("_")[-1], 16)


def new_objects(raw: Store, table: TableName, after: int, upto: int) -> list[str]:
    """Keys of the table's objects holding changes in ``(after, upto]``, in LSN order."""
    keys = layout.readable_objects(raw.list_keys(layout.table_prefix(table)))
    chosen = [k for k in keys if after < object_lsn(k) <= upto]
    return sorted(chosen, key=lambda k: (object_lsn(k), k))


def read_changes(raw: Store, table: TableName, after: int, upto: int) -> TableChanges | None:
    """The table's changes in ``(after, upto]``; None when the table has no objects at all."""
    keys = new_objects(raw, table, after, upto)
    if not keys:
        return None
    parts = [raw.read_parquet(k) for k in keys]
    key = tuple(json.loads(parts[-1].schema.metadata.get(SOURCE_KEY_KEY, b"[]")))
    rows = pa.concat_tables(parts, promote_options="default")
    lsn = rows.column("_lsn")
    rows = rows.filter(pc.and_(pc.greater(lsn, after), pc.less_equal(lsn, upto)))
    return TableChanges(table, key, rows if rows.num_rows else None)
