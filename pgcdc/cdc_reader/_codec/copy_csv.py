"""A ``COPY … TO STDOUT (FORMAT csv)`` of Postgres' text output -> typed Arrow columns.

The fast path: pyarrow's CSV reader converts the kinds whose registry record says it reads
their text exactly (``csv``); every other column is read as text and goes through the same
converters as any Postgres text (:func:`~pgcdc.cdc_reader._codec.values.to_arrow`). A value the
reader refuses (``infinity``, NaN, a BC date …) sends the whole chunk through the
converters.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.csv as pacsv

from pgcdc.cdc_reader._codec.values import to_arrow
from pgcdc.schemas.pgtypes import column_type
from pgcdc.schemas.tablespec import ColumnSpec

Flags = dict[int, list[tuple[str, str]]]
"""Row -> (column, Postgres text) of the NaN and ±Infinity a DECIMAL column cannot hold."""


def from_copy_csv(
    data: pa.Buffer, columns: Sequence[ColumnSpec]
) -> tuple[list[pa.Array | pa.ChunkedArray], Flags | None]:
    """The columns of a CSV COPY (NULL unquoted-empty, empty string quoted), typed per the
    contract, and the non-finite flags (None: the fast path found none to flag)."""
    if not data.size:
        return [pa.array([], column_type(c).arrow_type) for c in columns], None
    try:
        return _fast_columns(data, columns), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        exact, flags = _exact_columns(data, columns)  # infinity, NaN, BC dates …
        return list(exact), flags


def _read_csv(data: pa.Buffer, types: list[pa.DataType]) -> pa.Table:
    names = [f"c{i}" for i in range(len(types))]
    options = pacsv.ConvertOptions(
        column_types=dict(zip(names, types, strict=True)),
        true_values=["t"],
        false_values=["f"],
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    read = pacsv.ReadOptions(column_names=names, block_size=8 << 20)
    return pacsv.read_csv(pa.BufferReader(data), read_options=read, convert_options=options)


def _fast_columns(
    data: pa.Buffer, columns: Sequence[ColumnSpec]
) -> list[pa.Array | pa.ChunkedArray]:
    types = [column_type(c) for c in columns]
    table = _read_csv(data, [pg.arrow_type if pg.info.csv else pa.string() for pg in types])
    return [
        table.column(i) if pg.info.csv else to_arrow(table.column(i).to_pylist(), pg)
        for i, pg in enumerate(types)
    ]


def _exact_columns(data: pa.Buffer, columns: Sequence[ColumnSpec]) -> tuple[list[pa.Array], Flags]:
    table = _read_csv(data, [pa.string()] * len(columns))
    out: list[pa.Array] = []
    flags: Flags = {}
    for i, column in enumerate(columns):
        found: dict[int, str] = {}
        out.append(to_arrow(table.column(i).to_pylist(), column_type(column), found))
        for row, text in found.items():
            flags.setdefault(row, []).append((column.name, text))
    return out, flags
