"""Tables that disappeared from the source while they were captured.

A table dropped after its last capture may still have changes in the slot, committed before
the drop: wal2json decodes them with the catalog of their time. The table's spec then comes
from what the raw store last recorded of it, so those changes are captured too.
"""

from __future__ import annotations

from pgcdc.schemas.pgtypes import spec_from_metadata
from pgcdc.schemas.tables import TableFilter, TableName
from pgcdc.schemas.tablespec import TableSpec
from pgcdc.storage import Store
from pgcdc.storage.lake.raw import table_objects


def spec_from_raw(raw: Store, table: TableName) -> TableSpec | None:
    """The table's spec as its newest raw file records it (None without files); a part of
    an unfinished snapshot counts (its footer is as good as a change file's)."""
    objects = table_objects(raw, table, complete=False)
    if not objects:
        return None
    return spec_from_metadata(table, raw.read_schema(objects[-1].key).metadata)


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
