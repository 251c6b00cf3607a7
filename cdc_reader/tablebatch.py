"""Row changes of one table gathered as columns and built into one Arrow table.

The layout is the raw store's: the table's own columns in table order, typed per
:mod:`schemas.pgtypes`, then the metadata columns

- ``_op`` string: ``c`` insert, ``u`` update, ``d`` delete, ``t`` truncate;
- ``_lsn`` int64: the transaction's commit LSN (end of its commit record);
- ``_seq`` int64: the change's position inside its transaction;
- ``_xid`` int64;
- ``_commit_ts`` timestamp[us, UTC];
- ``_unchanged`` list<string>: columns wal2json did not send because their TOASTed value
  did not change (their NULL in this row means "as before", not NULL); NULL when none;
- ``_old_key`` struct of the key columns, typed like them: the previous key of an update
  that changed it, the key of a deleted row; NULL otherwise (DuckDB reads it as a STRUCT,
  so ``_old_key.id`` joins without parsing);
- ``_nonfinite`` map<string, string>, only in tables with a DECIMAL (or DECIMAL[]) column:
  column -> Postgres text for a NaN or ±Infinity that DECIMAL cannot hold (the column is
  NULL there). wal2json 2.5 itself sends such numerics as JSON null, so only 2.6 and later
  with ``numeric-data-types-as-string`` fill it.

A delete under ``REPLICA IDENTITY DEFAULT`` carries only the key: its other columns are NULL
in the file. A truncate is one row with ``_op = 't'`` and every table column NULL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NoReturn

import pyarrow as pa

from schemas.errors import ConfigurationError, DecodeError
from schemas.pgtypes import PgKind, PgType, arrow_field, column_type, source_types_metadata
from schemas.pgvalues import PgValueError, to_arrow
from schemas.tables import TableName
from schemas.tablespec import SpecMismatchError, TableSpec

_NAME = itemgetter("name")
_TYPE = itemgetter("type")
_VALUE = itemgetter("value")

# Types whose values are never TOASTed: if wal2json leaves one out, the spec is stale.
_FIXED_WIDTH = frozenset(
    {
        PgKind.BOOL,
        PgKind.INT2,
        PgKind.INT4,
        PgKind.INT8,
        PgKind.FLOAT4,
        PgKind.FLOAT8,
        PgKind.DATE,
        PgKind.TIME,
        PgKind.TIMESTAMP,
        PgKind.TIMESTAMPTZ,
        PgKind.UUID,
        PgKind.INTERVAL,
    }
)
METADATA_COLUMNS = ("_op", "_lsn", "_seq", "_xid", "_commit_ts", "_unchanged", "_old_key")
NONFINITE_COLUMN = "_nonfinite"


@dataclass(frozen=True, slots=True)
class TxnInfo:
    """What every change of one transaction shares."""

    xid: int
    commit_lsn: int
    commit_ts_us: int


@dataclass(frozen=True, slots=True)
class TableBatch:
    """The built changes of one table under one spec."""

    table: TableName
    spec: TableSpec
    data: pa.Table


def wire_type(pg_type: str) -> str:
    """A ``format_type`` text as it appears in wal2json's JSON.

    wal2json writes a quoted type name (``"PaymentTypeName"``) into the JSON as it is, so
    the quotes become the JSON string's own and disappear from the decoded text.
    """
    if pg_type.startswith('"') and pg_type.endswith('"') and '"' not in pg_type[1:-1]:
        return pg_type[1:-1]
    return pg_type


class TableBatchBuilder:
    """Accumulates one table's row changes (raw wal2json values) and builds a ``pa.Table``.

    ``add_*`` either takes the whole change or raises and leaves the builder as it was, so
    a caller can refresh a stale spec and retry. Values are converted in :meth:`build`,
    column by column; a value that does not fit raises :class:`DecodeError` naming the
    change's LSN, the table and the column.
    """

    def __init__(self, spec: TableSpec) -> None:
        clash = set(spec.names) & {*METADATA_COLUMNS, NONFINITE_COLUMN}
        if clash:
            raise ConfigurationError(
                f"{spec.table} has columns named like pgcdc's metadata columns: {sorted(clash)}"
            )
        self.spec = spec
        self._types = [column_type(c) for c in spec.columns]
        self._names = spec.names
        self._wire = [wire_type(c.pg_type) for c in spec.columns]
        self._key_pos = [spec.names.index(k) for k in spec.key]
        self._has_decimal = any(_holds_decimal(t) for t in self._types)
        self.exact_text_needed = any(t.exact_text_needed for t in self._types)
        """Whether this table's numbers must be read from the JSON text, not as floats."""
        # One list per column, appended to while the change's values are still in the CPU
        # cache; holding plain values only, they cost the garbage collector nothing.
        self._columns: list[list[Any]] = [[] for _ in spec.columns]
        self._appends = [column.append for column in self._columns]
        self._ops: list[str] = []
        self._seqs: list[int] = []
        self._lsns: list[str] = []
        self._runs: list[tuple[int, TxnInfo]] = []  # (first row, transaction)
        self._unchanged: dict[int, list[str]] = {}
        self._old_keys: dict[int, list[Any]] = {}

    @property
    def rows(self) -> int:
        """Changes gathered so far."""
        return len(self._ops)

    def last_change(self) -> tuple[list[Any], list[str], list[Any] | None]:
        """The change added last: raw values in table order, unchanged columns, old key."""
        index = len(self._ops) - 1
        if index < 0:
            raise IndexError("no change added yet")
        row = [column[index] for column in self._columns]
        return row, self._unchanged.get(index, []), self._old_keys.get(index)

    def add_insert(self, columns: list[dict[str, Any]], txn: TxnInfo, seq: int, lsn: str) -> None:
        """An ``I`` change's ``columns``."""
        row, missing = self._row(columns, lsn)
        if missing:
            self._mismatch(f"insert lacks columns {missing}", columns, lsn)
        self._append("c", row, txn, seq, lsn)

    def add_update(
        self,
        columns: list[dict[str, Any]],
        identity: list[dict[str, Any]] | None,
        txn: TxnInfo,
        seq: int,
        lsn: str,
    ) -> None:
        """A ``U`` change: new ``columns``, and ``identity`` when the key changed or FULL."""
        row, missing = self._row(columns, lsn)
        old_key = None
        if identity is not None:
            old, _ = self._row(identity, lsn)
            if missing:
                # Under REPLICA IDENTITY FULL the old row holds the unchanged TOAST values.
                row = list(row)
                missing = [m for m in missing if not self._fill(row, old, m, identity)]
            old_key = self._key_of(old, identity, lsn)
            if old_key == [row[p] for p in self._key_pos]:
                old_key = None
        self._check_toastable(missing, columns, lsn)
        index = len(self._ops)
        if missing:
            self._unchanged[index] = missing
        if old_key is not None:
            self._old_keys[index] = old_key
        self._append("u", row, txn, seq, lsn)

    def add_delete(self, identity: list[dict[str, Any]], txn: TxnInfo, seq: int, lsn: str) -> None:
        """A ``D`` change's ``identity``: the key, or the whole old row under FULL."""
        row, _ = self._row(identity, lsn)
        if self._key_pos:
            self._old_keys[len(self._ops)] = self._key_of(row, identity, lsn)
        self._append("d", row, txn, seq, lsn)

    def add_truncate(self, txn: TxnInfo, seq: int, lsn: str) -> None:
        """A ``T`` change."""
        self._append("t", (None,) * len(self._types), txn, seq, lsn)

    def _append(self, op: str, row: Sequence[Any], txn: TxnInfo, seq: int, lsn: str) -> None:
        if not self._runs or self._runs[-1][1] is not txn:
            self._runs.append((len(self._ops), txn))
        for append, value in zip(self._appends, row, strict=True):
            append(value)
        self._ops.append(op)
        self._seqs.append(seq)
        self._lsns.append(lsn)

    def _row(self, columns: list[dict[str, Any]], lsn: str) -> tuple[Sequence[Any], list[str]]:
        """Values in table order, and the spec's columns the change did not carry."""
        try:
            if list(map(_NAME, columns)) == self._names and (
                list(map(_TYPE, columns)) == self._wire
            ):
                return list(map(_VALUE, columns)), []
        except (KeyError, TypeError):
            raise DecodeError(
                "malformed column entry", lsn=lsn, table=str(self.spec.table)
            ) from None
        return self._row_by_name(columns, lsn)

    def _row_by_name(self, columns: list[dict[str, Any]], lsn: str) -> tuple[list[Any], list[str]]:
        row: list[Any] = [None] * len(self._types)
        seen = [False] * len(self._types)
        for column in columns:
            try:
                name, typ, value = column["name"], column["type"], column.get("value")
            except (KeyError, TypeError):
                raise DecodeError(
                    "malformed column entry", lsn=lsn, table=str(self.spec.table)
                ) from None
            pos = self.spec.position(name)
            if pos is None:
                self._mismatch("column not in the table spec", columns, lsn, name)
            if typ != self._wire[pos] and wire_type(typ) != self._wire[pos]:
                self._mismatch(f"type {typ!r} is not {self._wire[pos]!r}", columns, lsn, name)
            row[pos], seen[pos] = value, True
        return row, [n for n, s in zip(self.spec.names, seen, strict=True) if not s]

    def _fill(self, row: list[Any], old: Sequence[Any], name: str, identity: list[Any]) -> bool:
        if not any(c.get("name") == name for c in identity):
            return False
        pos = self.spec.position(name)
        assert pos is not None
        row[pos] = old[pos]
        return True

    def _key_of(self, values: Sequence[Any], identity: list[dict[str, Any]], lsn: str) -> list[Any]:
        present = {c.get("name") for c in identity}
        absent = [k for k in self.spec.key if k not in present]
        if absent:
            self._mismatch(f"old row lacks key columns {absent}", identity, lsn)
        return [values[p] for p in self._key_pos]

    def _check_toastable(self, missing: list[str], columns: list[Any], lsn: str) -> None:
        for name in missing:
            pos = self.spec.position(name)
            assert pos is not None
            if self._types[pos].kind in _FIXED_WIDTH:
                self._mismatch(f"update lacks {name!r}, which cannot be TOASTed", columns, lsn)

    def _mismatch(
        self, message: str, columns: list[Any], lsn: str, column: str | None = None
    ) -> NoReturn:
        seen = tuple((str(c.get("name")), str(c.get("type"))) for c in columns)
        raise SpecMismatchError(
            message, seen=seen, lsn=lsn, table=str(self.spec.table), column=column
        )

    def build(self) -> pa.Table:
        """The gathered changes as one table in the raw store's layout."""
        columns = self._columns
        nonfinite: dict[int, list[tuple[str, str]]] = {}
        arrays = []
        for spec_column, pg, values in zip(self.spec.columns, self._types, columns, strict=True):
            flags: dict[int, str] | None = {} if self._has_decimal else None
            arrays.append(self._convert(values, pg, spec_column.name, flags))
            for row, text in (flags or {}).items():
                nonfinite.setdefault(row, []).append((spec_column.name, text))
        fields = [arrow_field(c) for c in self.spec.columns]
        meta_arrays, meta_fields = self._metadata(nonfinite)
        schema = pa.schema(fields + meta_fields, metadata=source_types_metadata(self.spec))
        return pa.Table.from_arrays(arrays + meta_arrays, schema=schema)

    def _convert(
        self, values: Any, pg: PgType, column: str, flags: dict[int, str] | None = None
    ) -> pa.Array:
        try:
            return to_arrow(values, pg, flags)
        except PgValueError as exc:
            lsn = self._lsns[exc.index] if exc.index is not None else None
            raise DecodeError(
                str(exc), lsn=lsn, table=str(self.spec.table), column=column
            ) from None

    def _metadata(
        self, nonfinite: dict[int, list[tuple[str, str]]]
    ) -> tuple[list[pa.Array], list[pa.Field]]:
        n = len(self._ops)
        lsns: list[int] = []
        xids: list[int] = []
        stamps: list[int] = []
        ends = [start for start, _ in self._runs[1:]] + [n]
        for (start, txn), end in zip(self._runs, ends, strict=True):
            lsns += [txn.commit_lsn] * (end - start)
            xids += [txn.xid] * (end - start)
            stamps += [txn.commit_ts_us] * (end - start)
        arrays = [
            pa.array(self._ops, pa.string()),
            pa.array(lsns, pa.int64()),
            pa.array(self._seqs, pa.int64()),
            pa.array(xids, pa.int64()),
            pa.array(stamps, pa.int64()).cast(_COMMIT_TS),
            _sparse_array(self._unchanged, n, pa.list_(pa.string())),
            self._old_key_array(n),
        ]
        if self._has_decimal:
            arrays.append(_sparse_array(nonfinite, n, _NONFINITE))
        fields = [pa.field(name, a.type) for name, a in zip(_meta_names(self), arrays, strict=True)]
        return arrays, fields

    def _old_key_array(self, n: int) -> pa.Array:
        if not self._key_pos:
            return pa.nulls(n)  # Parquet cannot store a struct without fields
        fields = [arrow_field(self.spec.columns[p]) for p in self._key_pos]
        if not self._old_keys:
            return pa.nulls(n, pa.struct(fields))
        per_key: list[list[Any]] = [[None] * n for _ in self._key_pos]
        for row, key in self._old_keys.items():
            for values, value in zip(per_key, key, strict=True):
                values[row] = value
        children = [
            self._convert(values, self._types[p], f"_old_key.{self.spec.names[p]}")
            for values, p in zip(per_key, self._key_pos, strict=True)
        ]
        absent = [True] * n
        for row in self._old_keys:
            absent[row] = False
        mask = pa.array(absent, pa.bool_())
        return pa.StructArray.from_arrays(children, fields=fields, mask=mask)


_COMMIT_TS = pa.timestamp("us", tz="UTC")
_NONFINITE = pa.map_(pa.string(), pa.string())


def _meta_names(builder: TableBatchBuilder) -> tuple[str, ...]:
    return METADATA_COLUMNS + ((NONFINITE_COLUMN,) if builder._has_decimal else ())


def _sparse_array(sparse: dict[int, Any], n: int, type_: pa.DataType) -> pa.Array:
    """A column that is NULL except at a few rows."""
    if not sparse:
        return pa.nulls(n, type_)
    dense: list[Any] = [None] * n
    for index, value in sparse.items():
        dense[index] = value
    return pa.array(dense, type_)


def _holds_decimal(pg: PgType) -> bool:
    return pg.kind is PgKind.DECIMAL or (
        pg.element is not None and pg.element.kind is PgKind.DECIMAL
    )
