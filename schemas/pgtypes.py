"""The type contract: which Arrow (and so Parquet and DuckDB) type each Postgres type becomes.

=============================  ===========================================================
Postgres                       Arrow / Parquet / DuckDB
=============================  ===========================================================
boolean                        bool / BOOLEAN
smallint, integer, bigint      int16, int32, int64
oid                            int64
real, double precision         float32, float64 (NaN and +-Infinity kept: see below)
numeric(p,s), 0<=s<=p<=38      decimal128(p,s) / DECIMAL(p,s), exact
numeric, numeric(p>38)         string: the exact Postgres text (also 'NaN', 'Infinity')
text, varchar(n), char(n)      string (char(n) keeps Postgres' blank padding)
bytea                          binary
json, jsonb                    arrow.json extension / Parquet JSON / DuckDB JSON: the text
uuid                           arrow.uuid extension / Parquet UUID / DuckDB UUID
date                           date32 / DATE
time                           time64[us] / TIME ('24:00:00' allowed)
timestamp                      timestamp[us] / TIMESTAMP
timestamptz                    timestamp[us, UTC] / TIMESTAMP WITH TIME ZONE
interval                       string '<m> months <d> days <us> microseconds' (exact; casts
                               to INTERVAL in DuckDB and Postgres) -- Parquet has no
                               month/day/microsecond interval pyarrow can write
T[] (any supported T)          list<T>, list<list<T>> for two dimensions (declared dims)
anything else (enums, timetz,  string: the Postgres text; the type name is kept in the
inet, ranges, composites, ...) file's source-type metadata
=============================  ===========================================================

``infinity`` and ``-infinity`` dates and timestamps are stored as the extreme values DuckDB
itself uses for them (date32 +-2147483647, int64 +-9223372036854775807 microseconds), so
DuckDB reads them back as ``infinity``/``-infinity`` and never as NULL. Timestamps past
294246 AD (Postgres goes to 294276) do not fit int64 microseconds and are refused.

NaN and ±Infinity: real and double keep them; unconstrained numeric keeps the text; a
DECIMAL column holds NULL and the raw file's ``_nonfinite`` column names the value (see
:mod:`cdc_reader.tablebatch`). wal2json 2.5 itself turns all of them into JSON null (lost
before pgcdc sees them) unless they sit inside an array; 2.6 with
``numeric-data-types-as-string`` sends them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

from schemas.tablespec import ColumnSpec, TableSpec

MAX_DECIMAL128_PRECISION = 38
SOURCE_TYPES_KEY = b"pgcdc.source_types"
SOURCE_KEY_KEY = b"pgcdc.source_key"
"""Parquet metadata key of the JSON list of the columns that identify a row."""
SOURCE_ARRAY_DIMS_KEY = b"pgcdc.source_array_dims"
"""Parquet metadata key of the JSON object of multi-dimensional array columns -> dims."""
"""Parquet key-value metadata key: JSON object of column name -> Postgres type text."""
FIELD_TYPE_KEY = b"pg_type"
"""Arrow field metadata key holding the column's Postgres type text."""


class PgKind(StrEnum):
    """How a Postgres type is represented in Arrow."""

    BOOL = "bool"
    INT2 = "int2"
    INT4 = "int4"
    INT8 = "int8"
    FLOAT4 = "float4"
    FLOAT8 = "float8"
    DECIMAL = "decimal"
    NUMERIC_TEXT = "numeric_text"
    TEXT = "text"
    BYTEA = "bytea"
    JSON = "json"
    UUID = "uuid"
    DATE = "date"
    TIME = "time"
    TIMESTAMP = "timestamp"
    TIMESTAMPTZ = "timestamptz"
    INTERVAL = "interval"
    ARRAY = "array"
    OTHER = "other"


_BASE_KINDS = {
    "boolean": PgKind.BOOL,
    "smallint": PgKind.INT2,
    "integer": PgKind.INT4,
    "bigint": PgKind.INT8,
    "oid": PgKind.INT8,
    "real": PgKind.FLOAT4,
    "double precision": PgKind.FLOAT8,
    "numeric": PgKind.DECIMAL,
    "text": PgKind.TEXT,
    "character varying": PgKind.TEXT,
    "character": PgKind.TEXT,
    "bpchar": PgKind.TEXT,
    "name": PgKind.TEXT,
    '"char"': PgKind.TEXT,
    "bytea": PgKind.BYTEA,
    "json": PgKind.JSON,
    "jsonb": PgKind.JSON,
    "uuid": PgKind.UUID,
    "date": PgKind.DATE,
    "time without time zone": PgKind.TIME,
    "timestamp without time zone": PgKind.TIMESTAMP,
    "timestamp with time zone": PgKind.TIMESTAMPTZ,
    "interval": PgKind.INTERVAL,
    # Internal names, as a hand-written spec or a type cast may spell them.
    "bool": PgKind.BOOL,
    "int2": PgKind.INT2,
    "int4": PgKind.INT4,
    "int8": PgKind.INT8,
    "float4": PgKind.FLOAT4,
    "float8": PgKind.FLOAT8,
    "varchar": PgKind.TEXT,
    "time": PgKind.TIME,
    "timestamp": PgKind.TIMESTAMP,
    "timestamptz": PgKind.TIMESTAMPTZ,
}

# format_type() text of a built-in type: a lower-case name, an optional typmod in
# parentheses, and for time types the zone suffix after the typmod.
_BUILTIN = re.compile(
    r"^(?P<base>[a-z][a-z ]*?)(?:\((?P<mod>[0-9, -]*)\))?(?P<zone> with(?:out)? time zone)?$"
)


@dataclass(frozen=True, slots=True)
class PgType:
    """A Postgres column type, parsed from its ``format_type`` text."""

    text: str
    kind: PgKind
    precision: int | None = None
    scale: int | None = None
    element: PgType | None = None
    dims: int = 0

    @classmethod
    def parse(cls, text: str, array_dims: int = 0) -> PgType:
        """Parse ``numeric(10,2)``, ``timestamp(3) with time zone``, ``integer[]``, ...

        ``array_dims`` is the declared number of dimensions of an array column (0 means 1:
        ``format_type`` prints a single ``[]`` whatever the dimensions).
        """
        if text.endswith("[]"):
            element = cls.parse(text[:-2])
            if element.kind is PgKind.ARRAY:
                raise ValueError(f"unexpected nested array type text: {text!r}")
            return cls(text, PgKind.ARRAY, element=element, dims=max(array_dims, 1))
        if text in _BASE_KINDS:  # no typmod: the common case, and '"char"'
            return cls(text, _BASE_KINDS[text]) if text != "numeric" else _numeric(text, None)
        match = _BUILTIN.match(text)
        if match is None:
            return cls(text, PgKind.OTHER)
        base = match.group("base") + (match.group("zone") or "")
        if base.startswith("interval"):
            return cls(text, PgKind.INTERVAL)
        kind = _BASE_KINDS.get(base, PgKind.OTHER)
        if kind is PgKind.DECIMAL:
            return _numeric(text, match.group("mod"))
        return cls(text, kind)

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type of a column of this Postgres type."""
        if self.kind is PgKind.ARRAY:
            assert self.element is not None
            result = self.element.arrow_type
            for _ in range(self.dims):
                result = pa.list_(result)
            return result
        if self.kind is PgKind.DECIMAL:
            assert self.precision is not None
            assert self.scale is not None
            return pa.decimal128(self.precision, self.scale)
        return _ARROW_TYPES[self.kind]

    @property
    def exact_text_needed(self) -> bool:
        """Whether wal2json's bare JSON number for this type can lose digits as a float.

        A decimal of up to 15 significant digits survives the trip through a double
        exactly (DBL_DIG); wider numerics and ``real`` (float4, which a double would round
        twice) must be read from the JSON text itself.
        """
        if self.kind is PgKind.DECIMAL:
            return (self.precision or 0) > 15
        return self.kind in (PgKind.NUMERIC_TEXT, PgKind.FLOAT4)


def _numeric(text: str, mod: str | None) -> PgType:
    if not mod:
        return PgType(text, PgKind.NUMERIC_TEXT)
    parts = [int(p) for p in mod.split(",")]
    precision, scale = parts[0], (parts[1] if len(parts) > 1 else 0)
    # Postgres 15 allows a negative scale and a scale above the precision; decimal128
    # and Parquet DECIMAL do not, so those keep the exact text like unconstrained numeric.
    if 0 <= scale <= precision <= MAX_DECIMAL128_PRECISION:
        return PgType(text, PgKind.DECIMAL, precision=precision, scale=scale)
    return PgType(text, PgKind.NUMERIC_TEXT, precision=precision, scale=scale)


_ARROW_TYPES: dict[PgKind, pa.DataType] = {
    PgKind.BOOL: pa.bool_(),
    PgKind.INT2: pa.int16(),
    PgKind.INT4: pa.int32(),
    PgKind.INT8: pa.int64(),
    PgKind.FLOAT4: pa.float32(),
    PgKind.FLOAT8: pa.float64(),
    PgKind.NUMERIC_TEXT: pa.string(),
    PgKind.TEXT: pa.string(),
    PgKind.BYTEA: pa.binary(),
    PgKind.JSON: pa.json_(pa.string()),
    PgKind.UUID: pa.uuid(),
    PgKind.DATE: pa.date32(),
    PgKind.TIME: pa.time64("us"),
    PgKind.TIMESTAMP: pa.timestamp("us"),
    PgKind.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    PgKind.INTERVAL: pa.string(),
    PgKind.OTHER: pa.string(),
}


def column_type(column: ColumnSpec) -> PgType:
    """The parsed type of a table column."""
    return PgType.parse(column.pg_type, column.array_dims)


def arrow_field(column: ColumnSpec) -> pa.Field:
    """The Arrow field of a table column, its Postgres type text in the field metadata."""
    return pa.field(
        column.name,
        column_type(column).arrow_type,
        metadata={FIELD_TYPE_KEY: column.pg_type.encode()},
    )


def source_types_metadata(spec: TableSpec) -> dict[bytes, bytes]:
    """Parquet key-value metadata recording each column's Postgres type text.

    Readers find the original types (enum names, typmods, unknown types kept as strings)
    under :data:`SOURCE_TYPES_KEY` as a JSON object of column name -> type text.
    """
    types = {c.name: c.pg_type for c in spec.columns}
    dims = {c.name: c.array_dims for c in spec.columns if c.array_dims > 1}
    return {
        SOURCE_TYPES_KEY: json.dumps(types, ensure_ascii=False).encode(),
        SOURCE_KEY_KEY: json.dumps(list(spec.key), ensure_ascii=False).encode(),
        SOURCE_ARRAY_DIMS_KEY: json.dumps(dims, ensure_ascii=False).encode(),
    }
