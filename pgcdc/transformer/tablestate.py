"""A captured table's current state in the processed store: a full base, then deltas.

Every object holds the table's columns and ``_deleted``; the newest object holding a key
decides it. A run looks up only the keys its changes touch (a filtered read), writes the
changed keys as one new delta, and now and then a new base (after a truncate or snapshot,
or when the deltas pile up), so a run costs about its changes, not the table's history.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pgcdc.schemas.tables import quote_ident
from pgcdc.storage import Store
from pgcdc.transformer.arrowsql import arrow_query

MAX_DELTAS = 24


class TableState:
    """The state objects of one table, read on demand (a :data:`fold.PreviousState`)."""

    def __init__(
        self,
        store: Store,
        objects: Sequence[str],
        key: Sequence[str],
        empty: pa.Table,
        con: duckdb.DuckDBPyConnection,
    ) -> None:
        self._store = store
        self._objects = list(objects)
        self._key = list(key)
        self._empty = empty
        self._con = con

    def __call__(self, keys: pa.Table | None) -> pa.Table:
        """Current rows of ``keys`` (a table of key columns), or all rows (None)."""
        if not self._objects or (keys is not None and keys.num_rows == 0):
            return self._empty
        parts = [self._read(i, obj, keys) for i, obj in enumerate(self._objects)]
        k = ", ".join(quote_ident(c) for c in self._key)
        cols = ", ".join(quote_ident(c) for c in self._empty.column_names)
        rows = arrow_query(
            self._con,
            f"""SELECT {cols} FROM (SELECT * FROM _parts QUALIFY row_number() OVER (
                    PARTITION BY {k} ORDER BY _obj DESC) = 1) WHERE NOT _deleted""",
            _parts=pa.concat_tables(parts, promote_options="permissive"),
        )
        if keys is not None and len(self._key) > 1:
            rows = _semi_join(self._con, rows, keys, self._key)
        return rows.cast(self._empty.schema) if rows.schema != self._empty.schema else rows

    def _read(self, index: int, obj: str, keys: pa.Table | None) -> pa.Table:
        table = None
        if keys is not None and self._store.is_local:
            table = self._lookup(self._store.path(obj), keys)
        if table is None:
            table = self._filtered_read(obj, keys)
        table = _with_columns_of(table, self._empty.schema)
        return table.append_column("_obj", pa.array([index] * table.num_rows, pa.int32()))

    def _lookup(self, path: str, keys: pa.Table) -> pa.Table | None:
        """The rows of ``keys`` in a local object, read by DuckDB with a semi join; None when
        DuckDB's types do not cast back to the object's own (the caller reads with pyarrow).

        The changed keys of a run are scattered over the whole key range, so row-group
        statistics skip little; DuckDB decodes the other columns only for the matching rows,
        about ten times less work than pyarrow's filtered read of a large base.
        """
        on = " AND ".join(
            f"p.{quote_ident(c)} IS NOT DISTINCT FROM k.{quote_ident(c)}" for c in self._key
        )
        rows = arrow_query(
            self._con,
            "SELECT p.* FROM read_parquet($path, hive_partitioning = false) AS p "
            f"SEMI JOIN _lookup_keys AS k ON {on}",
            params={"path": path},
            _lookup_keys=keys,
        )
        schema = pq.read_schema(path)
        try:
            return rows.cast(schema) if rows.schema != schema else rows
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            return None

    def _filtered_read(self, obj: str, keys: pa.Table | None) -> pa.Table:
        """The whole object, or (a one-column key) the rows of ``keys``, read by pyarrow."""
        flt = None
        if keys is not None and len(self._key) == 1:
            want = self._empty.schema.field(self._key[0]).type
            flt = pc.field(self._key[0]).isin(keys.column(0).cast(want))
        return self._store.read_parquet(obj, filters=flt)


def _with_columns_of(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with the columns of ``schema`` it lacks added as nulls.

    A column added to the source (``ALTER TABLE … ADD COLUMN``) is in the new changes but not
    in state objects written before it: their rows have no value for it yet (NULL).
    """
    for field in schema:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table


def _semi_join(
    con: duckdb.DuckDBPyConnection, rows: pa.Table, keys: pa.Table, key: Sequence[str]
) -> pa.Table:
    on = " AND ".join(f"r.{quote_ident(c)} IS NOT DISTINCT FROM k.{quote_ident(c)}" for c in key)
    return arrow_query(
        con,
        f"SELECT r.* FROM _rows AS r WHERE EXISTS (SELECT 1 FROM _keys AS k WHERE {on})",
        _rows=rows,
        _keys=keys,
    )


def with_deleted(rows: pa.Table, deleted: bool = False) -> pa.Table:
    """Rows as a state object (a ``_deleted`` column added)."""
    return rows.append_column("_deleted", pa.array([deleted] * rows.num_rows, pa.bool_()))


def sorted_by_key(con: duckdb.DuckDBPyConnection, rows: pa.Table, key: Sequence[str]) -> pa.Table:
    """Rows ordered by key, so a filtered read of a base skips most row groups."""
    k = ", ".join(quote_ident(c) for c in key)
    return arrow_query(con, f"SELECT * FROM _unsorted ORDER BY {k}", _unsorted=rows)
