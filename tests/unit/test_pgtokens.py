"""Raw JSON value tokens convert exactly as their parsed values do."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pgcdc.cdc_reader.codec import (
    Numbers,
    PgValueError,
    to_arrow,
    token_value,
    token_values,
    tokens_to_arrow,
)
from pgcdc.schemas.pgtypes import PgType

pytestmark = pytest.mark.unit

# Tokens as wal2json writes them (and some it never does), per column type.
COLUMNS: list[tuple[str, list[str]]] = [
    ("integer", ["1", "-2", "0", "-0", "null", "2147483647"]),
    ("integer", ["2147483648"]),  # out of range: refused with its position
    ("integer", ["1", "1.5"]),
    ("integer", ['"7"', "null"]),  # a domain, or numeric-data-types-as-string
    ("bigint", ["9223372036854775807", "-9223372036854775808", "null"]),
    ("smallint", ["true"]),
    ("double precision", ["1.5", "2", "-0", "1e+300", "5e-324", "null", "0.30000000000000004"]),
    ("double precision", ["12345678901234567", "1"]),  # beyond 2**53: the JSON parser's double
    ("double precision", ['"NaN"', '"-Infinity"', '"1.5"']),
    ("real", ["1.1", "3.4028235e+38", "null"]),
    ("numeric(10,2)", ["2.31", "100.00", "5", "-0.01", "null"]),
    ("numeric(10,2)", ["1.234"]),  # more decimals than the scale: refused, as a float is
    ("numeric(10,2)", ["123456789012.5"]),
    ("numeric(10,2)", ['"NaN"', '"1.50"', "null"]),
    ("numeric(20,4)", ["1234567890123456.7891", "-1", "null"]),
    ("numeric", ["123456789012345678901234567890.123456789", "null", "1e400"]),
    ("numeric", ['"NaN"', "1.5"]),
    ("boolean", ["true", "false", "null"]),
    ("boolean", ['"t"', "null"]),
    ("text", ['"a"', '""', "null", '"tab\\there"', '"quote\\"d"', '"\\u0001"', '"ü∑"']),
    ("text", ["1"]),
    ("character varying(20)", ['"x"', '"x\\\\y"']),
    ("jsonb", ['"{\\"a\\": [1, 2]}"', "null"]),
    ("date", ['"2020-02-29"', '"infinity"', '"0044-03-15 BC"', "null"]),
    ("date", ['"2020-02-30"']),
    ("timestamp without time zone", ['"2026-11-25 18:00:00.5"', '"-infinity"', "null"]),
    ("timestamp with time zone", ['"2026-11-25 18:00:00.123+05:30"', "null"]),
    ("time without time zone", ['"24:00:00"', '"10:00:00.5"', "null"]),
    ("interval", ['"P1Y2M3DT4H5M6.5S"', "null"]),
    ("uuid", ['"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"', "null"]),
    ("uuid", ["1.5"]),
    ("bytea", ['"00ff"', '""', "null"]),
    ("integer[]", ['"{1,NULL,3}"', '"{}"', "null"]),
    ("numeric(10,2)[]", ['"{1.50,NaN}"', "null"]),
    ("integer", ["null", "null"]),
]


def _outcome(convert: Any) -> Any:
    """The error, or the array as the raw store writes it (NaN, ±infinity and all)."""
    try:
        array = convert()
    except (PgValueError, ValueError) as exc:
        return type(exc).__name__, str(exc), getattr(exc, "index", None)
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"c": array}), sink)
    return array.type, sink.getvalue().to_pybytes()


@pytest.mark.parametrize("numbers", list(Numbers))
@pytest.mark.parametrize(("type_text", "tokens"), COLUMNS)
def test_tokens_convert_as_their_parsed_values_do(
    type_text: str, tokens: list[str], numbers: Numbers
) -> None:
    pg = PgType.parse(type_text)
    bulk_flags: dict[int, str] = {}
    parsed_flags: dict[int, str] = {}
    for given in (tokens, pa.array(tokens, pa.string())):
        bulk = _outcome(lambda g=given: tokens_to_arrow(g, pg, numbers, bulk_flags))
        parsed = _outcome(lambda: to_arrow(token_values(tokens, numbers), pg, parsed_flags))
        assert bulk == parsed
        assert bulk_flags == parsed_flags


def test_token_value_reads_numbers_as_the_column_is_read() -> None:
    assert token_value("null", Numbers.PARSED) is None
    assert token_value("-0", Numbers.PARSED) == 0
    assert token_value("1.50", Numbers.PARSED) == 1.5
    assert token_value("1.50", Numbers.TEXT) == "1.50"
    assert token_value('"1.50"', Numbers.TEXT) == "1.50"
    assert token_value("1e400", Numbers.TEXT_IF_WIDE) == "1e400"
    assert token_value('"a\\"b"', Numbers.TEXT) == 'a"b'
    with pytest.raises(ValueError, match="not JSON"):
        token_value("1e400", Numbers.PARSED)
