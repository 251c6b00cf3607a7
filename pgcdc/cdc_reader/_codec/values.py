"""Columns of decoded Postgres values -> Arrow arrays, per the type contract in pgtypes.

Input values are Postgres' text output (COPY, array elements, domains, pgoutput's text
format, ``numeric-data-types-as-string``) or what wal2json's JSON gives (numbers,
booleans, strings, None); both are accepted for every type. Each kind's converter is the
one its registry record names (:class:`pgcdc.schemas.pgtypes.Codec`). Conversion is vectorised
in Arrow where the common text form allows it and falls back to the pure parsers of
:mod:`pgcdc.cdc_reader._codec.text` for the rest, so per-value Python work is paid only by
values such as ``infinity`` or BC dates.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pgcdc.cdc_reader._codec import text as pgtext
from pgcdc.schemas.pgtypes import Codec, PgType

NONFINITE = frozenset({"NaN", "Infinity", "-Infinity"})
"""Postgres numeric values DECIMAL cannot hold."""
_DATE_FAST = r"^\d{4}-\d\d-\d\d$"
_TIMESTAMP_FAST = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?$"
_TIMESTAMPTZ_FAST = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d(:\d\d)?$"
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)


class PgValueError(ValueError):
    """A value does not fit its column type; ``index`` is its position in the column."""

    def __init__(self, message: str, index: int | None) -> None:
        super().__init__(message)
        self.index = index


def to_arrow(
    values: Sequence[Any], pg: PgType, nonfinite: dict[int, str] | None = None
) -> pa.Array:
    """The Arrow array of a column of values of Postgres type ``pg``.

    DECIMAL cannot hold NaN or ±Infinity: when ``nonfinite`` is given, such values become
    NULL and their position and Postgres text are recorded in it; otherwise they raise.
    Raises :class:`PgValueError` naming the position of a value that does not fit.
    """
    codec = pg.info.codec
    if codec is Codec.ARRAY:
        return _array_column(values, pg, nonfinite)
    if codec is Codec.DECIMAL:
        return _decimal_column(values, pg, nonfinite)
    return _CONVERTERS[codec](values, pg)


def to_python(value: Any, pg: PgType) -> Any:
    """One value as a Python object per the contract (Decimal, datetime, UUID, list, ...).

    Values Python's types cannot hold (``infinity``, BC or after-9999 dates and timestamps,
    NaN in a DECIMAL) are returned as their Postgres text.
    """
    if value is None:
        return None
    if pg.info.codec is Codec.DECIMAL and value in NONFINITE:
        return Decimal(value)
    if pg.info.codec is Codec.ARRAY and isinstance(value, str):
        with contextlib.suppress(ValueError):  # a malformed literal fails below, with its row
            pg = replace(pg, dims=pgtext.array_depth(pgtext.parse_array(value)))
    nonfinite: dict[int, str] = {}
    array = to_arrow([value], pg, nonfinite)  # raises PgValueError when it does not fit
    if nonfinite:
        return value  # a DECIMAL[] holding NaN: its literal says it all
    try:
        return array.to_pylist()[0]
    except (ValueError, OverflowError):  # beyond datetime's years
        return value


def _strings(values: Sequence[Any]) -> pa.Array:
    try:
        return pa.array(values, pa.string())
    except _ARROW_ERRORS:
        bad = next(i for i, v in enumerate(values) if v is not None and not isinstance(v, str))
        raise PgValueError(f"expected text, got {values[bad]!r}", bad) from None


def _locate(values: Sequence[Any], check: Callable[[Any], object], what: str) -> PgValueError:
    """The error for the first value ``check`` refuses (called once a batch failed)."""
    for i, value in enumerate(values):
        if value is None:
            continue
        try:
            check(value)
        except (*_ARROW_ERRORS, ValueError, TypeError, KeyError, AttributeError) as exc:
            return PgValueError(f"not a valid {what}: {value!r} ({exc})", i)
    return PgValueError(f"column does not convert to {what}", None)


def _number_column(values: Sequence[Any], pg: PgType) -> pa.Array:
    """Numbers arrive as JSON numbers, or as text (domains, numbers-as-string, arrays)."""
    target = pg.arrow_type
    try:
        # Inferring first, then casting safely, refuses what a typed conversion would
        # accept silently: a float truncated into an integer column, a bool as a number.
        native = pa.array(values)
        if _castable_number(native.type, target):
            floating = pa.types.is_floating(target)
            return native.cast(target, safe=not floating or not pa.types.is_integer(native.type))
    except _ARROW_ERRORS:
        pass
    if not any(isinstance(v, bool) for v in values):
        # JSON numbers mixed with text: the same numbers spelled both ways (some messages
        # read exactly). A float's repr is exact; into an integer column it fails to parse.
        with contextlib.suppress(*_ARROW_ERRORS):
            return _strings([_number_text(v) for v in values]).cast(target)
    raise _locate(values, lambda v: _one_number(v, target), str(target)) from None


def _number_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return repr(value)


def _castable_number(source: pa.DataType, target: pa.DataType) -> bool:
    if pa.types.is_null(source) or pa.types.is_string(source) or pa.types.is_integer(source):
        return True
    return bool(pa.types.is_floating(source) and pa.types.is_floating(target))


def _one_number(value: Any, target: pa.DataType) -> pa.Array:
    native = pa.array([value])
    if not _castable_number(native.type, target):
        raise ValueError(f"a JSON {native.type} value")
    return native.cast(target)


def _bool_column(values: Sequence[Any], pg: PgType) -> pa.Array:
    try:
        native = pa.array(values)
        if pa.types.is_boolean(native.type) or pa.types.is_null(native.type):
            return native.cast(pa.bool_())
        return pa.array([None if v is None else pgtext.BOOL_TEXT[v] for v in values], pa.bool_())
    except (KeyError, TypeError, *_ARROW_ERRORS):
        raise _locate(values, _one_bool, "boolean") from None


def _one_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return pgtext.BOOL_TEXT[value]


def _decimal_column(
    values: Sequence[Any], pg: PgType, nonfinite: dict[int, str] | None
) -> pa.Array:
    try:
        texts = pa.array(values, pa.string())
    except _ARROW_ERRORS:
        return _decimal_from_numbers(values, pg)
    return decimal_from_text(texts, pg, nonfinite)


@functools.cache
def _nonfinite_texts() -> pa.Array:
    # built on first use: an array built at import time would import pandas (~1.6 s)
    return pa.array(sorted(NONFINITE))


def decimal_from_text(texts: pa.Array, pg: PgType, nonfinite: dict[int, str] | None) -> pa.Array:
    """A DECIMAL column from Postgres text (a string array): what :func:`to_arrow` makes
    of the same strings."""
    target = pg.arrow_type
    special = pc.indices_nonzero(pc.is_in(texts, _nonfinite_texts())).to_pylist()
    if special:
        if nonfinite is None:
            first = texts[special[0]].as_py()
            raise PgValueError(f"{pg.text} cannot hold {first}", special[0])
        nonfinite.update(zip(special, texts.take(special).to_pylist(), strict=True))
        texts = pc.if_else(pc.is_in(texts, _nonfinite_texts()), None, texts)
    try:
        return texts.cast(target)
    except _ARROW_ERRORS:
        values = texts.to_pylist()
        raise _locate(values, lambda v: pa.array([v]).cast(target), str(target)) from None


def _decimal_from_numbers(values: Sequence[Any], pg: PgType) -> pa.Array:
    """wal2json 2.5 sends numerics as bare JSON numbers.

    A double holds up to 15 significant digits exactly (DBL_DIG), so a column that narrow
    may come through orjson's float: rounding the double to the column's scale gives back
    the exact decimal. Wider columns must have been read as text (ints are exact anyway).
    """
    try:
        if not pg.exact_text_needed:
            native = _inferred(values)
            if native is not None and native.type in _DOUBLE_SOURCES:
                return _decimal_from_doubles(native.cast(pa.float64()), pg)
        elif any(isinstance(v, float) for v in values):
            raise pa.ArrowTypeError("inexact float")
        # Text, or text mixed with numbers: a float's shortest repr is its exact decimal
        # when the column has 15 digits at most.
        return _strings([_number_text(v) for v in values]).cast(pg.arrow_type)
    except (*_ARROW_ERRORS, ValueError):
        raise _locate(values, lambda v: _one_decimal(v, pg), pg.text) from None


def _inferred(values: Sequence[Any]) -> pa.Array | None:
    """The values as Arrow infers them, None when they mix types it cannot unify."""
    try:
        return pa.array(values)
    except _ARROW_ERRORS:
        return None


def _decimal_from_doubles(doubles: pa.Array, pg: PgType) -> pa.Array:
    decimals = doubles.cast(pg.arrow_type)  # refuses a value beyond the precision
    # A value with more decimals than the scale was rounded: it does not come back. The
    # way back is itself off by up to one unit in the last place, hence the tolerance.
    back = decimals.cast(pa.float64())
    drift = pc.abs(pc.subtract(back, doubles))
    rounded = pc.greater(drift, pc.multiply(pc.abs(doubles), _ONE_ULP_AND_MORE))
    if pc.any(rounded).as_py():
        raise ValueError(f"{pg.text} cannot hold it exactly")
    return decimals


def _one_decimal(value: Any, pg: PgType) -> pa.Array:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, float):
        if pg.exact_text_needed:
            raise TypeError(f"{pg.text} value decoded as an inexact float")
        return _decimal_from_doubles(pa.array([value], pa.float64()), pg)
    return pa.array([str(value)]).cast(pg.arrow_type)


_ONE_ULP_AND_MORE = 4.5e-16
_DOUBLE_SOURCES = (pa.float64(), pa.int64(), pa.null())


def _text_column(values: Sequence[Any], pg: PgType) -> pa.Array:
    return _strings(values)


def _numeric_text_column(values: Sequence[Any], pg: PgType) -> pa.Array:
    """Exact text; an int is exact too, a float is not (it lost digits on the way)."""
    for i, value in enumerate(values):
        if isinstance(value, float | bool):
            raise PgValueError(f"{pg.text} value decoded as an inexact number: {value!r}", i)
    return _strings([v if v is None or isinstance(v, str) else str(v) for v in values])


def _json_column(values: Sequence[Any], pg: PgType) -> pa.Array:
    return pa.ExtensionArray.from_storage(pg.arrow_type, _strings(values))


def _per_value(
    values: Sequence[Any], parse: Callable[[str], Any], storage: pa.DataType, what: str
) -> pa.Array:
    try:
        return pa.array([None if v is None else parse(v) for v in values], storage)
    except (ValueError, TypeError, AttributeError, *_ARROW_ERRORS):
        raise _locate(values, lambda v: pa.array([parse(v)], storage), what) from None


def _bytea_column(values: Sequence[Any], pg: PgType) -> pa.Array:
    return _per_value(values, pgtext.parse_bytea, pa.binary(), "bytea (hex)")


def _uuid_bytes(text: str) -> bytes:
    raw = bytes.fromhex(text.replace("-", ""))
    if len(raw) != 16:
        raise ValueError("a uuid has 16 bytes")
    return raw


def _uuid_column(values: Sequence[Any], pg: PgType) -> pa.Array:
    storage = _per_value(values, _uuid_bytes, pa.binary(16), "uuid")
    return pa.ExtensionArray.from_storage(pg.arrow_type, storage)


def _interval_column(values: Sequence[Any], pg: PgType) -> pa.Array:
    return _per_value(values, _canonical_interval, pa.string(), "interval")


def _canonical_interval(text: str) -> str:
    if text in ("infinity", "-infinity"):  # Postgres 17 and later
        return text
    return pgtext.parse_interval(text).canonical()


def _time_column(values: Sequence[Any], pg: PgType) -> pa.Array:
    return _per_value(values, pgtext.parse_time, pa.int64(), "time").cast(pg.arrow_type)


def _temporal(
    values: Sequence[Any], pg: PgType, fast: str, parse: Callable[[str], int], storage: pa.DataType
) -> pa.Array:
    """Arrow parses the common text form; the parser of pgtext takes the rest."""
    target = pg.arrow_type
    texts = _strings(values)
    try:
        return texts.cast(target)
    except _ARROW_ERRORS:
        pass  # infinity, BC, years past 9999, or a malformed value: sort them out below
    common = pc.match_substring_regex(texts, fast)
    special = pc.indices_nonzero(pc.invert(common).fill_null(False)).to_pylist()
    try:
        stored = pc.if_else(common, texts, None).cast(target).cast(storage)
    except _ARROW_ERRORS:
        raise _locate(values, parse, pg.text) from None
    patch: list[int | None] = [None] * len(values)
    for i in special:
        try:
            patch[i] = parse(values[i])
        except ValueError as exc:
            raise PgValueError(f"not a valid {pg.text}: {values[i]!r} ({exc})", i) from None
    return pc.coalesce(stored, pa.array(patch, storage)).cast(target)


def _array_column(values: Sequence[Any], pg: PgType, nonfinite: dict[int, str] | None) -> pa.Array:
    """Array literals -> nested Arrow lists; elements converted like scalar columns."""
    assert pg.element is not None
    parsed = _parse_arrays(values, pg.dims)
    level: list[Any] = parsed
    offsets: list[tuple[list[int], list[bool]]] = []
    for _ in range(pg.dims):
        starts, valid, flat = [0], [], []
        for item in level:
            valid.append(item is not None)
            if item is not None:
                flat.extend(item)
            starts.append(len(flat))
        offsets.append((starts, valid))
        level = flat
    leaf_flags: dict[int, str] | None = {} if nonfinite is not None else None
    try:
        array = to_arrow(level, pg.element, leaf_flags)
    except PgValueError as exc:
        row = None if exc.index is None else _row_of_leaf(offsets, exc.index)
        raise PgValueError(f"element of {pg.text}: {exc}", row) from None
    if leaf_flags and nonfinite is not None:
        # The row's whole literal keeps the NaN/Infinity its DECIMAL elements lost.
        nonfinite.update(
            (row, values[row]) for row in (_row_of_leaf(offsets, i) for i in leaf_flags)
        )
    for starts, valid in reversed(offsets):
        mask = None if all(valid) else pa.array([not v for v in valid])
        array = pa.ListArray.from_arrays(pa.array(starts, pa.int32()), array, mask=mask)
    return array


def _parse_arrays(values: Sequence[Any], dims: int) -> list[Any]:
    parsed: list[Any] = []
    for i, value in enumerate(values):
        if value is None:
            parsed.append(None)
            continue
        try:
            items = pgtext.parse_array(value)
        except (ValueError, AttributeError) as exc:
            raise PgValueError(f"not an array literal: {value!r} ({exc})", i) from None
        if items and pgtext.array_depth(items) != dims:
            depth = pgtext.array_depth(items)
            raise PgValueError(f"{depth}-dimensional array in a {dims}-dimensional column", i)
        parsed.append(items)
    return parsed


def _row_of_leaf(offsets: list[tuple[list[int], list[bool]]], leaf: int) -> int:
    """The row an element belongs to, going up through the nested lists' offsets."""
    index = leaf
    for starts, _ in reversed(offsets):
        index = bisect.bisect_right(starts, index) - 1
    return index


def _date_column(values: Sequence[Any], pg: PgType) -> pa.Array:
    return _temporal(values, pg, _DATE_FAST, pgtext.parse_date, pa.int32())


def _timestamp_column(values: Sequence[Any], pg: PgType) -> pa.Array:
    return _temporal(values, pg, _TIMESTAMP_FAST, pgtext.parse_timestamp, pa.int64())


def _timestamptz_column(values: Sequence[Any], pg: PgType) -> pa.Array:
    return _temporal(values, pg, _TIMESTAMPTZ_FAST, pgtext.parse_timestamp, pa.int64())


_CONVERTERS: dict[Codec, Callable[[Sequence[Any], PgType], pa.Array]] = {
    Codec.BOOL: _bool_column,
    Codec.INTEGER: _number_column,
    Codec.FLOAT4: _number_column,
    Codec.FLOAT8: _number_column,
    Codec.NUMERIC_TEXT: _numeric_text_column,
    Codec.TEXT: _text_column,
    Codec.JSON: _json_column,
    Codec.BYTEA: _bytea_column,
    Codec.UUID: _uuid_column,
    Codec.INTERVAL: _interval_column,
    Codec.TIME: _time_column,
    Codec.DATE: _date_column,
    Codec.TIMESTAMP: _timestamp_column,
    Codec.TIMESTAMPTZ: _timestamptz_column,
}
"""The converter of each codec (DECIMAL and ARRAY take the non-finite flags: above)."""
