"""Row changes of one table gathered as columns and built into one Arrow table.

The layout is the raw store's: the table's own columns in table order, typed per
:mod:`pgcdc.schemas.pgtypes`, then the metadata columns

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

A change comes in parsed (``add_*``: the values JSON parsing gave) or, on the capture hot
path, as the raw JSON tokens of its values (:meth:`TableBatchBuilder.add_tokens`, with the
:class:`~pgcdc.cdc_reader.shape.Shape` its text matched). Both build to the same table: a batch
of tokens only is converted in bulk (:mod:`pgcdc.cdc_reader.codec`), a batch holding parsed
changes too parses its tokens first.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple, NoReturn

import pyarrow as pa
import pyarrow.compute as pc

from pgcdc.cdc_reader.codec import (
    NULL,
    Numbers,
    PgValueError,
    to_arrow,
    token_value,
    tokens_to_arrow,
)
from pgcdc.cdc_reader.shape import Shape, wire_type
from pgcdc.schemas.errors import ConfigurationError, DecodeError
from pgcdc.schemas.pgtypes import PgType, arrow_field, column_type, source_types_metadata
from pgcdc.schemas.tables import TableName
from pgcdc.schemas.tablespec import SpecMismatchError, TableSpec

_NAME = itemgetter("name")
_TYPE = itemgetter("type")
_VALUE = itemgetter("value")

METADATA_COLUMNS = ("_op", "_lsn", "_seq", "_xid", "_commit_ts", "_unchanged", "_old_key")
NONFINITE_COLUMN = "_nonfinite"


class TxnInfo(NamedTuple):
    """What every change of one transaction shares (a tuple: one is made per transaction)."""

    xid: int
    commit_lsn: int
    commit_ts_us: int


@dataclass(frozen=True, slots=True)
class TableBatch:
    """The built changes of one table under one spec."""

    table: TableName
    spec: TableSpec
    data: pa.Table


class TableBatchBuilder:
    """Accumulates one table's row changes (raw wal2json values) and builds a ``pa.Table``.

    ``add_*`` either takes the whole change or raises and leaves the builder as it was, so
    a caller can refresh a stale spec and retry. Values are converted in :meth:`build`,
    column by column; a value that does not fit raises :class:`DecodeError` naming the
    change's LSN, the table and the column. With an ``executor``, every full chunk of
    changes is converted on it while more come in (Arrow works without the GIL), and
    :meth:`build` joins the pieces: the same table, converted sooner.
    """

    def __init__(self, spec: TableSpec, executor: Executor | None = None) -> None:
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
        self._has_decimal = any(t.holds_decimal for t in self._types)
        self.exact_text_needed = any(t.exact_text_needed for t in self._types)
        """Whether this table's numbers must be read from the JSON text, not as floats."""
        self._numbers = [_numbers(t, self.exact_text_needed) for t in self._types]
        self._width = len(self._types)
        self._null_row = (NULL,) * self._width
        # Per change, its values in table order: parsed (a list; the rows in _parsed) or
        # raw JSON tokens joined by _SEP into one string, which Arrow splits into
        # columns in bulk: one Python object per change, nothing for the cyclic GC.
        self._rows: list[Any] = []
        self._parsed: list[int] = []
        # Rows up to _submitted go to the executor in chunks, converted while more come.
        self._executor = executor
        self._submitted = 0
        self._next_chunk = _CHUNK_ROWS if executor is not None else -1
        self._chunks: list[Future[_Converted]] = []
        self._ops: list[str] = []
        self._seqs: list[int] = []
        self._lsns: list[str] = []
        self._runs: list[tuple[int, TxnInfo]] = []  # (first row, transaction)
        self._unchanged: dict[int, list[str]] = {}
        self._old_keys: dict[int, Sequence[Any]] = {}  # parsed or tokens, like the row

    @property
    def rows(self) -> int:
        """Changes gathered so far."""
        return len(self._ops)

    def last_change(self) -> tuple[list[Any], list[str], list[Any] | None]:
        """The change added last: values in table order, unchanged columns, old key."""
        index = len(self._ops) - 1
        if index < 0:
            raise IndexError("no change added yet")
        row, old_key = self._rows[index], self._old_keys.get(index)
        if not self._parsed or self._parsed[-1] != index:
            row = self._parsed_row(_split(row, self._width), range(self._width), self._lsns[index])
            if old_key is not None:
                old_key = self._parsed_row(old_key, self._key_pos, self._lsns[index])
        key = list(old_key) if old_key is not None else None
        return list(row), self._unchanged.get(index, []), key

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
        self._store("t", _SEP.join(self._null_row), txn, seq, lsn)

    def add_tokens(
        self, shape: Shape, tokens: Sequence[str], txn: TxnInfo, seq: int, lsn: str
    ) -> None:
        """A change whose text matched ``shape`` (learned for this spec), as its value
        tokens in the order of the shape's groups; what ``add_*`` makes of the parsed
        change, without parsing it."""
        if shape.complete:  # the common case, inline: the capture's hottest path
            if not self._runs or self._runs[-1][1] is not txn:
                self._runs.append((len(self._ops), txn))
            self._rows.append(_SEP.join(tokens))
            self._ops.append(shape.op)
            self._seqs.append(seq)
            self._lsns.append(lsn)
            if len(self._rows) == self._next_chunk:
                self._submit()
            return
        row: Sequence[str] = tokens
        if not shape.in_order:
            placed = list(self._null_row)
            for pos, token in zip(shape.columns, tokens, strict=False):
                placed[pos] = token
            for pos, i in shape.fill:
                placed[pos] = tokens[i]
            row = placed
        elif len(tokens) != self._width:
            row = tokens[: self._width]
        index = len(self._ops)
        if shape.unchanged:
            self._unchanged[index] = list(shape.unchanged)
        if shape.key:
            old_key = tuple(tokens[i] for i in shape.key)
            if shape.op == "d" or not self._same_key(old_key, row, lsn):
                self._old_keys[index] = old_key
        self._store(shape.op, _SEP.join(row), txn, seq, lsn)

    def _same_key(self, old_key: Sequence[str], row: Sequence[str], lsn: str) -> bool:
        new_key = [row[p] for p in self._key_pos]
        if list(old_key) == new_key:
            return True
        # Different text, maybe the same value (an update compares parsed values).
        parsed = self._parsed_row(old_key, self._key_pos, lsn)
        return parsed == self._parsed_row(new_key, self._key_pos, lsn)

    def _append(self, op: str, row: Sequence[Any], txn: TxnInfo, seq: int, lsn: str) -> None:
        self._parsed.append(len(self._ops))
        self._store(op, list(row), txn, seq, lsn)

    def _store(self, op: str, row: str | list[Any], txn: TxnInfo, seq: int, lsn: str) -> None:
        if not self._runs or self._runs[-1][1] is not txn:
            self._runs.append((len(self._ops), txn))
        self._rows.append(row)
        self._ops.append(op)
        self._seqs.append(seq)
        self._lsns.append(lsn)
        if len(self._rows) == self._next_chunk:
            self._submit()

    def _submit(self) -> None:
        """Hand the rows since the last chunk to the executor, for converting now."""
        assert self._executor is not None
        self._chunks.append(self._executor.submit(self._convert_rows, *self._chunk()))
        self._submitted = len(self._rows)
        self._next_chunk = self._submitted + _CHUNK_ROWS

    def _chunk(self) -> tuple[list[Any], list[int], list[str]]:
        """The rows not handed out yet: rows, which of them came parsed, their LSNs."""
        start = self._submitted
        parsed = self._parsed[bisect.bisect_left(self._parsed, start) :]
        return self._rows[start:], [i - start for i in parsed], self._lsns[start:]

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
            if self._types[pos].info.fixed_width:  # never TOASTed: the spec is stale
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
        parts, sizes = self._converted()
        arrays = [_concat([part[0][j] for part in parts]) for j in range(self._width)]
        nonfinite: dict[int, list[tuple[str, str]]] = {}
        offset = 0
        for part, size in zip(parts, sizes, strict=True):
            nonfinite.update((offset + row, flags) for row, flags in part[1].items())
            offset += size
        fields = [arrow_field(c) for c in self.spec.columns]
        meta_arrays, meta_fields = self._metadata(nonfinite)
        schema = pa.schema(fields + meta_fields, metadata=source_types_metadata(self.spec))
        return pa.Table.from_arrays(arrays + meta_arrays, schema=schema)

    def _converted(self) -> tuple[list[_Converted], list[int]]:
        """Every row converted: the chunks, the rest, and how many rows each holds."""
        sizes = [_CHUNK_ROWS] * len(self._chunks) + [len(self._rows) - self._submitted]
        try:
            parts = [chunk.result() for chunk in self._chunks]
            parts.append(self._convert_rows(*self._chunk()))
        except Exception:
            if not self._chunks:
                raise
            # A value does not fit: raise what converting all rows at once raises (for
            # the first such value of the first column holding one), chunks or not.
            return [self._convert_rows(self._rows, self._parsed, self._lsns)], [len(self._rows)]
        return parts, sizes

    def _convert_rows(self, rows: list[Any], parsed: list[int], lsns: list[str]) -> _Converted:
        """Some rows' columns converted (row numbers relative to them, like ``parsed``,
        the rows that came parsed): the arrays, and the NaN/Infinity a DECIMAL lost."""
        columns = self._columns(rows, parsed, lsns)
        nonfinite: dict[int, list[tuple[str, str]]] = {}
        arrays = []
        for i, (spec_column, values) in enumerate(zip(self.spec.columns, columns, strict=True)):
            flags: dict[int, str] | None = {} if self._has_decimal else None
            arrays.append(
                self._convert(
                    values, i, spec_column.name, parsed=bool(parsed), lsns=lsns, flags=flags
                )
            )
            for row, text in (flags or {}).items():
                nonfinite.setdefault(row, []).append((spec_column.name, text))
        return arrays, nonfinite

    def _columns(self, rows: list[Any], parsed: list[int], lsns: list[str]) -> list[Any]:
        """The rows as columns: Arrow arrays of tokens when no change came parsed, else
        lists of parsed values."""
        width = self._width
        if not parsed:
            return _token_columns(rows, width)
        if len(parsed) < len(rows):
            came_parsed, every = set(parsed), range(width)
            rows = [
                row if i in came_parsed else self._parsed_row(_split(row, width), every, lsn)
                for i, (row, lsn) in enumerate(zip(rows, lsns, strict=True))
            ]
        return [list(map(itemgetter(j), rows)) for j in range(width)]

    def _parsed_row(self, tokens: Sequence[str], positions: Sequence[int], lsn: str) -> list[Any]:
        """Token values as JSON parsing gives them (``positions``: their table columns)."""
        try:
            return [
                token_value(t, self._numbers[p]) for t, p in zip(tokens, positions, strict=True)
            ]
        except ValueError as exc:
            raise DecodeError(str(exc), lsn=lsn, table=str(self.spec.table)) from None

    def _convert(
        self,
        values: Any,
        pos: int,
        column: str,
        *,
        parsed: bool,
        lsns: Sequence[str],
        flags: dict[int, str] | None = None,
    ) -> pa.Array:
        """A column converted, tokens or (``parsed``) values; ``lsns`` are those of the
        values' rows, for naming the change whose value does not fit."""
        pg = self._types[pos]
        try:
            if parsed:
                return to_arrow(values, pg, flags)
            return tokens_to_arrow(values, pg, self._numbers[pos], flags)
        except PgValueError as exc:
            lsn = lsns[exc.index] if exc.index is not None else None
            raise DecodeError(
                str(exc), lsn=lsn, table=str(self.spec.table), column=column
            ) from None
        except ValueError as exc:  # a token no JSON parser reads
            raise DecodeError(str(exc), table=str(self.spec.table), column=column) from None

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
        # Converted for the rows that have one, NULL elsewhere (like the row's own NULL)
        rows = list(self._old_keys)
        keys = list(self._old_keys.values())
        if self._parsed:
            parsed = set(self._parsed)
            keys = [
                key if row in parsed else self._parsed_row(key, self._key_pos, self._lsns[row])
                for row, key in zip(rows, keys, strict=True)
            ]
        where: list[int | None] = [None] * n
        for i, row in enumerate(rows):
            where[row] = i
        spread = pa.array(where, pa.int64())
        children = []
        lsns = [self._lsns[row] for row in rows]
        for j, (p, field) in enumerate(zip(self._key_pos, fields, strict=True)):
            name = f"_old_key.{field.name}"
            values = self._convert(
                [k[j] for k in keys], p, name, parsed=bool(self._parsed), lsns=lsns
            )
            children.append(values.take(spread))
        return pa.StructArray.from_arrays(children, fields=fields, mask=spread.is_null())


_COMMIT_TS = pa.timestamp("us", tz="UTC")
_NONFINITE = pa.map_(pa.string(), pa.string())


def _numbers(pg: PgType, exact: bool) -> Numbers:
    """How the decoder reads a column's bare JSON numbers: numeric and real (type oids
    1700 and 700) as their text in a table read exactly; any other number parsed."""
    if not pg.info.number_text:
        return Numbers.PARSED
    return Numbers.TEXT if exact else Numbers.TEXT_IF_WIDE


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


_SEP = "\x1f"  # between a row's value tokens: valid JSON holds no raw control character
_CHUNK_ROWS = 32_768  # rows converted at a time in the background, while more come
_Converted = tuple[list[pa.Array], dict[int, list[tuple[str, str]]]]


def _concat(arrays: list[pa.Array]) -> pa.Array:
    """One contiguous array, as one conversion of every row would have made it."""
    return arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)


def _split(row: str, width: int) -> list[str]:
    return row.split(_SEP) if width else []


def _token_columns(rows: list[str], width: int) -> list[pa.Array]:
    """Rows of joined tokens as one string array per column, split in bulk by Arrow."""
    if width <= 1:
        return [pa.array(rows, pa.string())] * width
    tokens = pc.split_pattern(pa.array(rows, pa.string()), _SEP).flatten()
    if len(tokens) != len(rows) * width:
        raise AssertionError("a row of tokens is not as wide as its table")
    first = pa.array(range(0, len(tokens), width), pa.int64())
    return [tokens.take(pc.add(first, j)) for j in range(width)]
