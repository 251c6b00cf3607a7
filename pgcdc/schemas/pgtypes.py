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
macaddr8                       string: the Postgres text ('08:00:2b:01:02:03:04:05')
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
:mod:`pgcdc.cdc_reader.tablebatch`). wal2json 2.5 itself turns all of them into JSON null (lost
before pgcdc sees them) unless they sit inside an array; 2.6 with
``numeric-data-types-as-string`` sends them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

from pgcdc.schemas.tables import TableName
from pgcdc.schemas.tablespec import ColumnSpec, TableSpec

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
    """How a Postgres type is represented in Arrow: one :class:`Kind` record each."""

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
    MACADDR8 = "macaddr8"
    ARRAY = "array"
    OTHER = "other"


class Codec(StrEnum):
    """Which converter of the capture side's codec turns a kind's values into Arrow.

    Like psycopg's loaders, one converter serves several kinds: a kind names the one its
    Postgres text (and wal2json JSON) form needs.
    """

    BOOL = "bool"
    INTEGER = "integer"
    FLOAT4 = "float4"
    FLOAT8 = "float8"
    DECIMAL = "decimal"
    NUMERIC_TEXT = "numeric_text"
    TEXT = "text"
    JSON = "json"
    BYTEA = "bytea"
    UUID = "uuid"
    DATE = "date"
    TIME = "time"
    TIMESTAMP = "timestamp"
    TIMESTAMPTZ = "timestamptz"
    INTERVAL = "interval"
    ARRAY = "array"


@dataclass(frozen=True, slots=True)
class Kind:
    """Everything pgcdc knows about one kind of Postgres type: the one place to add a type."""

    kind: PgKind
    names: tuple[str, ...]
    """``format_type`` spellings without typmod (and internal names a spec may use)."""
    arrow: pa.DataType | None
    """The Arrow type (None: it depends on the typmod or the element)."""
    codec: Codec
    """The converter of its values."""
    warehouse: str
    """The PostgreSQL warehouse's column type for the Arrow type (decimals: a template)."""
    oids: frozenset[int] = frozenset()
    """Type oids of its base types; a domain (another oid) is sent as text by wal2json."""
    fixed_width: bool = False
    """Never TOASTed: an update that leaves such a column out means a stale spec."""
    csv: bool = False
    """pyarrow's CSV reader reads Postgres' text output of it exactly (the snapshot's fast
    path); otherwise the text goes through the codec."""
    number_text: bool = False
    """Its JSON numbers are read from their text: a double would lose digits."""
    copy_select: str = "{}"
    """The snapshot's COPY select expression of such a column (``{}``: the column)."""


_STRING = pa.string()
# fmt: off
KINDS: dict[PgKind, Kind] = {
    k.kind: k
    for k in (
        Kind(PgKind.BOOL, ("boolean", "bool"), pa.bool_(), Codec.BOOL, "boolean",
             frozenset({16}), fixed_width=True, csv=True),
        Kind(PgKind.INT2, ("smallint", "int2"), pa.int16(), Codec.INTEGER, "smallint",
             frozenset({21}), fixed_width=True, csv=True),
        Kind(PgKind.INT4, ("integer", "int4"), pa.int32(), Codec.INTEGER, "integer",
             frozenset({23}), fixed_width=True, csv=True),
        Kind(PgKind.INT8, ("bigint", "int8", "oid"), pa.int64(), Codec.INTEGER, "bigint",
             frozenset({20, 26}), fixed_width=True, csv=True),
        Kind(PgKind.FLOAT4, ("real", "float4"), pa.float32(), Codec.FLOAT4, "real",
             frozenset({700}), fixed_width=True, number_text=True),
        Kind(PgKind.FLOAT8, ("double precision", "float8"), pa.float64(), Codec.FLOAT8,
             "double precision", frozenset({701}), fixed_width=True, csv=True),
        Kind(PgKind.DECIMAL, ("numeric",), None, Codec.DECIMAL, "numeric({precision},{scale})",
             frozenset({1700}), csv=True, number_text=True),
        Kind(PgKind.NUMERIC_TEXT, (), _STRING, Codec.NUMERIC_TEXT, "text",
             frozenset({1700}), number_text=True),
        Kind(PgKind.TEXT, ("text", "character varying", "character", "bpchar", "name",
             '"char"', "varchar"), _STRING, Codec.TEXT, "text", csv=True),
        Kind(PgKind.BYTEA, ("bytea",), pa.binary(), Codec.BYTEA, "bytea",
             copy_select="encode({}, 'hex')"),  # the decoder's form: hex without \\x
        Kind(PgKind.JSON, ("json", "jsonb"), pa.json_(_STRING), Codec.JSON, "text"),
        Kind(PgKind.UUID, ("uuid",), pa.uuid(), Codec.UUID, "text", fixed_width=True),
        Kind(PgKind.DATE, ("date",), pa.date32(), Codec.DATE, "date",
             fixed_width=True, csv=True),
        Kind(PgKind.TIME, ("time without time zone", "time"), pa.time64("us"), Codec.TIME,
             "time", fixed_width=True),
        Kind(PgKind.TIMESTAMP, ("timestamp without time zone", "timestamp"),
             pa.timestamp("us"), Codec.TIMESTAMP, "timestamp", fixed_width=True, csv=True),
        Kind(PgKind.TIMESTAMPTZ, ("timestamp with time zone", "timestamptz"),
             pa.timestamp("us", tz="UTC"), Codec.TIMESTAMPTZ, "timestamptz",
             fixed_width=True, csv=True),
        Kind(PgKind.INTERVAL, ("interval",), _STRING, Codec.INTERVAL, "text",
             fixed_width=True),
        Kind(PgKind.MACADDR8, ("macaddr8",), _STRING, Codec.TEXT, "text",
             frozenset({774}), fixed_width=True, csv=True),
        Kind(PgKind.ARRAY, (), None, Codec.ARRAY, "{element}[]"),
        Kind(PgKind.OTHER, (), _STRING, Codec.TEXT, "text"),
    )
}
# fmt: on
"""The type registry: one record per kind."""

_BASE_KINDS = {name: k.kind for k in KINDS.values() for name in k.names}

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
        arrow = KINDS[self.kind].arrow
        assert arrow is not None
        return arrow

    @property
    def exact_text_needed(self) -> bool:
        """Whether wal2json's bare JSON number for this type can lose digits as a float.

        A decimal of up to 15 significant digits survives the trip through a double
        exactly (DBL_DIG); wider numerics and ``real`` (float4, which a double would round
        twice) must be read from the JSON text itself.
        """
        if self.kind is PgKind.DECIMAL:
            return (self.precision or 0) > 15
        return self.info.number_text

    @property
    def info(self) -> Kind:
        """The registry's record of this type's kind."""
        return KINDS[self.kind]

    @property
    def holds_decimal(self) -> bool:
        """A DECIMAL or DECIMAL[] column: its NaN and ±Infinity go to ``_nonfinite``."""
        pg = self.element if self.element is not None else self
        return pg.kind is PgKind.DECIMAL


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


def spec_from_metadata(table: TableName, metadata: dict[bytes, bytes] | None) -> TableSpec | None:
    """The spec :func:`source_types_metadata` recorded (None: the metadata has none)."""
    if not metadata or SOURCE_TYPES_KEY not in metadata:
        return None
    types: dict[str, str] = json.loads(metadata[SOURCE_TYPES_KEY])
    dims: dict[str, int] = json.loads(metadata.get(SOURCE_ARRAY_DIMS_KEY, b"{}"))
    columns = tuple(ColumnSpec(n, t, dims.get(n, 0)) for n, t in types.items())
    return TableSpec(table, columns, source_key(metadata))


def source_key(metadata: dict[bytes, bytes] | None) -> tuple[str, ...]:
    """The key columns :func:`source_types_metadata` recorded (empty: none recorded)."""
    return tuple(json.loads((metadata or {}).get(SOURCE_KEY_KEY, b"[]")))


def warehouse_type(arrow: pa.DataType) -> str | None:
    """The PostgreSQL warehouse's column type for a kind's Arrow type (None: no kind has
    it). Where kinds share an Arrow type, the first registered decides (they agree)."""
    if pa.types.is_decimal(arrow):
        return KINDS[PgKind.DECIMAL].warehouse.format(precision=arrow.precision, scale=arrow.scale)
    if pa.types.is_timestamp(arrow):  # any unit: DuckDB may write ns or ms
        arrow = KINDS[PgKind.TIMESTAMPTZ if arrow.tz else PgKind.TIMESTAMP].arrow
    elif pa.types.is_time(arrow):
        arrow = KINDS[PgKind.TIME].arrow
    return _WAREHOUSE.get(arrow)


_WAREHOUSE = {k.arrow: k.warehouse for k in reversed(KINDS.values()) if k.arrow is not None}
