"""Reading the raw store: which change objects are new, and their rows.

Listing and key parsing are the lake layer's (:mod:`pgcdc.storage.lake.raw`); this module reads
the rows of the objects it names.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.pgtypes import source_key
from pgcdc.schemas.tables import TableName
from pgcdc.storage import Store
from pgcdc.storage.lake.raw import capture_bound, captured_tables, objects_between

__all__ = ["TableChanges", "capture_bound", "captured_tables", "new_objects", "read_changes"]


@dataclass(frozen=True, slots=True)
class TableChanges:
    """The new changes of one table (``rows`` is None when there are none)."""

    table: TableName
    key: tuple[str, ...]
    rows: pa.Table | None


def new_objects(raw: Store, table: TableName, after: Lsn, upto: Lsn) -> list[str]:
    """Keys of the table's objects holding changes in ``(after, upto]``, in LSN order."""
    return [obj.key for obj in objects_between(raw, table, after, upto)]


def read_changes(raw: Store, table: TableName, after: Lsn, upto: Lsn) -> TableChanges | None:
    """The table's changes in ``(after, upto]``; None when the table has no objects at all."""
    keys = new_objects(raw, table, after, upto)
    if not keys:
        return None
    parts = [raw.read_parquet(k) for k in keys]
    key = source_key(parts[-1].schema.metadata)
    rows = pa.concat_tables(parts, promote_options="default")
    lsn = rows.column("_lsn")
    rows = rows.filter(pc.and_(pc.greater(lsn, int(after)), pc.less_equal(lsn, int(upto))))
    return TableChanges(table, key, rows if rows.num_rows else None)
