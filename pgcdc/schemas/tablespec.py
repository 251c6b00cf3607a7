"""What the decoder must know about a source table: its columns, their types, its key."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from pgcdc.schemas.errors import DecodeError
from pgcdc.schemas.tables import TableName


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column of a source table, in the table's column order.

    ``pg_type`` is the type as wal2json reports it with ``include-typmod`` and
    ``include-domain-data-type``: ``format_type(atttypid, atttypmod)`` for ordinary columns
    and ``format_type(typbasetype, typtypmod)`` for a domain. ``array_dims`` is the declared
    number of array dimensions (``pg_attribute.attndims``); 0 for an array type means 1,
    because Postgres does not record it for every array column.
    """

    name: str
    pg_type: str
    array_dims: int = 0


@dataclass(frozen=True)
class TableSpec:
    """A source table as the reader found it in ``pg_catalog``.

    ``key`` names the columns that identify a row in the change stream: the primary key;
    for ``REPLICA IDENTITY USING INDEX`` that index's columns; for ``REPLICA IDENTITY FULL``
    without a primary key, every column. An empty key means wal2json cannot report this
    table's updates and deletes (it skips them with a server warning).
    """

    table: TableName
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...] = ()
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {c.name: i for i, c in enumerate(self.columns)}
        if len(index) != len(self.columns):
            raise ValueError(f"duplicate column names in {self.table}")
        missing = [k for k in self.key if k not in index]
        if missing:
            raise ValueError(f"key columns {missing} are not columns of {self.table}")
        object.__setattr__(self, "_index", index)

    @cached_property
    def names(self) -> list[str]:
        """Column names in table order (a list: compared against each change's names)."""
        return [c.name for c in self.columns]

    def position(self, name: str) -> int | None:
        """The column's position, or None when the table has no such column."""
        return self._index.get(name)

    def column(self, name: str) -> ColumnSpec:
        """The column of that name (KeyError when there is none)."""
        return self.columns[self._index[name]]


class SpecMismatchError(DecodeError):
    """A change does not fit the table spec: a column was added, dropped or retyped.

    ``seen`` holds the columns (name, wal2json type text) the change carried, so the caller
    can refresh its spec from ``pg_catalog`` or, for a change older than the catalog, build
    one from what the change itself says.
    """

    def __init__(
        self,
        message: str,
        *,
        seen: tuple[tuple[str, str], ...],
        lsn: str | None = None,
        table: str | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(message, lsn=lsn, table=table, column=column)
        self.seen = seen
