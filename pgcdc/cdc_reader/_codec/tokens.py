"""Columns of raw JSON value tokens -> Arrow arrays, equal to parsing them first.

The capture hot path keeps a row change whose text has its table's known shape as the JSON
text of its values (``null``, ``true``, ``false``, a number as printed, a quoted string
with its escapes), without parsing the message. :func:`tokens_to_arrow` converts a column
of such tokens in bulk with Arrow, and gives exactly what
:func:`~pgcdc.cdc_reader._codec.values.to_arrow` gives for the values a JSON parser makes
of them (:func:`token_value`). Where a column holds anything the bulk conversion does not
cover, the tokens are parsed one by one and go
through ``to_arrow`` itself, so results and errors stay the same.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from enum import Enum
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pgcdc.cdc_reader._codec.values import decimal_from_text, to_arrow
from pgcdc.schemas.pgtypes import Codec, PgType

NULL = "null"
"""The token of a NULL value."""


class Numbers(Enum):
    """How the decoder's JSON parsing reads a column's numbers."""

    PARSED = "parsed"
    """As JSON numbers (an int, or a float)."""
    TEXT = "text"
    """As their text: numeric and real in a table read exactly (a float loses digits)."""
    TEXT_IF_WIDE = "text_if_wide"
    """Numeric and real elsewhere: parsed, but kept as text when no double holds them."""


_NUMBER_START = frozenset("-0123456789")
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)
# Text to_arrow casts straight to the column's type, its first (and usual) way
_CAST_FROM_TEXT = frozenset(
    {
        Codec.INTEGER,
        Codec.FLOAT4,
        Codec.FLOAT8,
        Codec.DATE,
        Codec.TIMESTAMP,
        Codec.TIMESTAMPTZ,
    }
)
_AS_TEXT = (Codec.TEXT, Codec.NUMERIC_TEXT)
# Integers a double does not hold exactly (beyond 2**53) become floats the JSON way.
_WIDE_INTEGER = r"^-?[0-9]{16,}$"


def token_value(token: str, numbers: Numbers) -> Any:
    """What the decoder's JSON parsing makes of one value token.

    Raises ValueError for a token no JSON parser reads (or a number no double holds, in
    a column whose numbers are parsed).
    """
    if token == NULL:
        return None
    if numbers is Numbers.TEXT and token[0] in _NUMBER_START:
        return token
    try:
        return orjson.loads(token)
    except orjson.JSONDecodeError as exc:
        if numbers is Numbers.TEXT_IF_WIDE and token[0] in _NUMBER_START:
            return token
        raise ValueError(f"not JSON: {exc}") from None


def token_values(tokens: Sequence[str], numbers: Numbers) -> list[Any]:
    """:func:`token_value` of every token."""
    return [token_value(t, numbers) for t in tokens]


def tokens_to_arrow(
    tokens: pa.Array | Sequence[str],
    pg: PgType,
    numbers: Numbers,
    nonfinite: dict[int, str] | None = None,
) -> pa.Array:
    """The Arrow array of a column of value tokens of Postgres type ``pg``.

    Equal to ``to_arrow(token_values(tokens, numbers), pg, nonfinite)``, and raises what
    that raises (:class:`~pgcdc.cdc_reader._codec.values.PgValueError` naming the position, or
    ValueError for a token no JSON parser reads).
    """
    n = len(tokens)
    array = tokens if isinstance(tokens, pa.Array) else pa.array(tokens, pa.string())
    nulls = pc.equal(array, NULL)
    if nulls.true_count == n:
        return to_arrow([None] * n, pg, nonfinite)
    quoted = pc.starts_with(array, '"').true_count
    booleans = pc.is_in(array, value_set=_booleans()).true_count
    codec = pg.info.codec
    converted = None
    try:
        if quoted + nulls.true_count == n:
            converted = _from_strings(array, nulls, pg, nonfinite)
        elif booleans + nulls.true_count == n and codec is Codec.BOOL:
            converted = pc.if_else(nulls, None, pc.equal(array, "true"))
        elif quoted == booleans == 0:
            converted = _from_numbers(array, nulls, pg, numbers)
    except _ARROW_ERRORS:
        pass  # out of range, malformed: the one-by-one way says which and where
    if converted is not None:
        return converted
    return to_arrow(token_values(array.to_pylist(), numbers), pg, nonfinite)


@functools.cache
def _booleans() -> pa.Array:
    # built on first use: an array built at import time would import pandas (~1.6 s)
    return pa.array(["true", "false"])


def _from_numbers(
    array: pa.Array, nulls: pa.Array, pg: PgType, numbers: Numbers
) -> pa.Array | None:
    """JSON numbers (and nulls); None for a type this does not cover."""
    convert = _FROM_NUMBERS.get(pg.info.codec)
    if convert is None:
        return None
    return convert(array, pc.if_else(nulls, None, array), pg, numbers is Numbers.TEXT)


def _integers(array: pa.Array, values: pa.Array, pg: PgType, as_text: bool) -> pa.Array:
    # "1.5" does not parse as an integer: refused one by one, with its position
    return values.cast(pa.int64()).cast(pg.arrow_type)


def _doubles(array: pa.Array, values: pa.Array, pg: PgType, as_text: bool) -> pa.Array | None:
    # JSON reads "-0" as the integer 0 (no sign), wide integers as their nearest double
    if pc.any(pc.equal(array, "-0")).as_py():
        return None
    if pc.any(pc.match_substring_regex(array, _WIDE_INTEGER)).as_py():
        return None
    doubles = values.cast(pa.float64())
    return None if pc.any(pc.is_inf(doubles)).as_py() else doubles  # JSON refuses those


def _reals(array: pa.Array, values: pa.Array, pg: PgType, as_text: bool) -> pa.Array | None:
    # Read from the number's text, as to_arrow reads it; a double would round twice.
    return values.cast(pa.float32()) if as_text else None


def _numeric_texts(array: pa.Array, values: pa.Array, pg: PgType, as_text: bool) -> pa.Array | None:
    return values if as_text else None


def _decimals(array: pa.Array, values: pa.Array, pg: PgType, as_text: bool) -> pa.Array | None:
    # Text straight to DECIMAL refuses what does not fit exactly; what fits is what the
    # double a narrow column's number is read as rounds back to (15 digits, DBL_DIG).
    if not as_text and pg.exact_text_needed:
        return None
    return values.cast(pg.arrow_type)


_FROM_NUMBERS = {
    Codec.INTEGER: _integers,
    Codec.FLOAT8: _doubles,
    Codec.FLOAT4: _reals,
    Codec.NUMERIC_TEXT: _numeric_texts,
    Codec.DECIMAL: _decimals,
}


def _from_strings(
    array: pa.Array,
    nulls: pa.Array,
    pg: PgType,
    nonfinite: dict[int, str] | None,
) -> pa.Array:
    """Quoted strings (and nulls): unquoted, unescaped, then converted as text."""
    texts = pc.if_else(nulls, None, pc.utf8_slice_codeunits(array, 1, -1))
    escaped = pc.match_substring(array, "\\")
    if escaped.true_count:
        escapes = array.filter(escaped).to_pylist()
        decoded = pa.array([orjson.loads(t) for t in escapes], pa.string())
        texts = pc.replace_with_mask(texts, escaped, decoded)
    codec = pg.info.codec
    if codec in _AS_TEXT:
        return texts
    if codec is Codec.JSON:
        return pa.ExtensionArray.from_storage(pg.arrow_type, texts)
    if codec is Codec.DECIMAL:
        return decimal_from_text(texts, pg, nonfinite)
    if codec in _CAST_FROM_TEXT:
        try:
            # what to_arrow does first with text: infinity, BC, ... take its long way
            return texts.cast(pg.arrow_type)
        except _ARROW_ERRORS:
            pass
    return to_arrow(texts.to_pylist(), pg, nonfinite)
