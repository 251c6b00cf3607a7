"""Tables that disappeared from the source while they were captured.

A table dropped after its last capture may still have changes in the slot, committed before
the drop: wal2json decodes them with the catalog of their time. The table's spec then comes
from what the raw store last recorded of it, so those changes are captured too.
"""

from __future__ import annotations

import json

from schemas.pgtypes import SOURCE_ARRAY_DIMS_KEY, SOURCE_KEY_KEY, SOURCE_TYPES_KEY
from schemas.tables import TableFilter, TableName
from schemas.tablespec import ColumnSpec, TableSpec
from storage import Store
from storage.lake.raw import table_objects


def spec_from_raw(raw: Store, table: TableName) -> TableSpec | None:
    """The table's spec as its newest raw file records it (None without files); a part of
    an unfinished snapshot counts (its footer is as good as a change file's)."""
    objects = table_objects(raw, table, complete=False)
    if not objects:
        return None
    metadata = raw.read_schema(objects[-1].key).metadata or {}
    if SOURCE_TYPES_KEY not in metadata:
        return None
    types: dict[str, str] = json.loads(metadata[SOURCE_TYPES_KEY])
    key: list[str] = json.loads(metadata.get(SOURCE_KEY_KEY, b"[]"))
    dims: dict[str, int] = json.loads(metadata.get(SOURCE_ARRAY_DIMS_KEY, b"{}"))
    columns = tuple(ColumnSpec(n, t, dims.get(n, 0)) for n, t in types.items())
    return TableSpec(table, columns, tuple(key))


def dropped_tables(
    raw: Store,
    previously: tuple[tuple[str, str], ...],
    current: dict[TableName, TableSpec],
    table_filter: TableFilter,
) -> dict[TableName, TableSpec]:
    """Specs of tables captured before that the catalog no longer has."""
    gone: dict[TableName, TableSpec] = {}
    for schema, name in previously:
        table = TableName(schema, name)
        if table in current or not table_filter.matches(table):
            continue
        spec = spec_from_raw(raw, table)
        if spec is not None:
            gone[table] = spec
    return gone
