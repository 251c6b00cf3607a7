"""The type contract: Postgres type text -> Arrow type, and values -> Arrow arrays."""

from __future__ import annotations

import json
import math
import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from pgcdc.cdc_reader._codec import text as pgtext
from pgcdc.cdc_reader.codec import PgValueError, to_arrow, to_python
from pgcdc.schemas.pgtypes import (
    SOURCE_TYPES_KEY,
    PgKind,
    PgType,
    arrow_field,
    source_types_metadata,
)
from pgcdc.schemas.tables import TableName
from pgcdc.schemas.tablespec import ColumnSpec, TableSpec

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "dims", "arrow"),
    [
        ("boolean", 0, pa.bool_()),
        ("smallint", 0, pa.int16()),
        ("integer", 0, pa.int32()),
        ("bigint", 0, pa.int64()),
        ("oid", 0, pa.int64()),
        ("real", 0, pa.float32()),
        ("double precision", 0, pa.float64()),
        ("numeric(10,2)", 0, pa.decimal128(10, 2)),
        ("numeric(38,10)", 0, pa.decimal128(38, 10)),
        ("numeric(7)", 0, pa.decimal128(7, 0)),
        ("numeric", 0, pa.string()),
        ("numeric(39,2)", 0, pa.string()),
        ("numeric(5,-2)", 0, pa.string()),
        ("numeric(2,5)", 0, pa.string()),
        ("text", 0, pa.string()),
        ("character varying(3)", 0, pa.string()),
        ("character varying", 0, pa.string()),
        ("character(5)", 0, pa.string()),
        ('"char"', 0, pa.string()),
        ("name", 0, pa.string()),
        ("bytea", 0, pa.binary()),
        ("json", 0, pa.json_(pa.string())),
        ("jsonb", 0, pa.json_(pa.string())),
        ("uuid", 0, pa.uuid()),
        ("date", 0, pa.date32()),
        ("time without time zone", 0, pa.time64("us")),
        ("time(3) without time zone", 0, pa.time64("us")),
        ("time with time zone", 0, pa.string()),
        ("timestamp without time zone", 0, pa.timestamp("us")),
        ("timestamp(3) without time zone", 0, pa.timestamp("us")),
        ("timestamp(0) with time zone", 0, pa.timestamp("us", tz="UTC")),
        ("interval", 0, pa.string()),
        ("interval year to month", 0, pa.string()),
        ("interval second(3)", 0, pa.string()),
        ("inet", 0, pa.string()),
        ("bit(3)", 0, pa.string()),
        ('"PaymentTypeName"', 0, pa.string()),
        ("PaymentTypeName", 0, pa.string()),
        ('"My Schema"."Mo od"', 0, pa.string()),
        ("public.mood", 0, pa.string()),
        ("integer[]", 0, pa.list_(pa.int32())),
        ("integer[]", 2, pa.list_(pa.list_(pa.int32()))),
        ("numeric(10,2)[]", 1, pa.list_(pa.decimal128(10, 2))),
        ("character varying(3)[]", 1, pa.list_(pa.string())),
        ("timestamp with time zone[]", 1, pa.list_(pa.timestamp("us", tz="UTC"))),
        ('"PaymentTypeName"[]', 1, pa.list_(pa.string())),
        ('"My Schema"."Mo od"[]', 1, pa.list_(pa.string())),
    ],
)
def test_type_text_to_arrow(text: str, dims: int, arrow: pa.DataType) -> None:
    assert PgType.parse(text, dims).arrow_type == arrow


def test_parsed_type_details() -> None:
    numeric = PgType.parse("numeric(12,4)")
    assert (numeric.kind, numeric.precision, numeric.scale) == (PgKind.DECIMAL, 12, 4)
    array = PgType.parse("numeric(12,4)[]", 2)
    assert (array.kind, array.dims, array.element) == (PgKind.ARRAY, 2, numeric)
    assert PgType.parse("time with time zone").kind is PgKind.OTHER


@pytest.mark.parametrize(
    ("text", "exact"),
    [
        ("numeric(15,2)", False),
        ("numeric(16,2)", True),
        ("numeric", True),
        ("numeric(50,5)", True),
        ("real", True),
        ("double precision", False),
        ("integer", False),
    ],
)
def test_which_types_need_the_exact_json_text(text: str, exact: bool) -> None:
    assert PgType.parse(text).exact_text_needed is exact


def test_source_types_metadata_and_field_metadata() -> None:
    spec = TableSpec(
        TableName("public", "t"),
        (ColumnSpec("id", "integer"), ColumnSpec("pay", '"PaymentTypeName"')),
        ("id",),
    )
    metadata = source_types_metadata(spec)
    assert json.loads(metadata[SOURCE_TYPES_KEY]) == {
        "id": "integer",
        "pay": '"PaymentTypeName"',
    }
    assert arrow_field(spec.columns[1]).metadata == {b"pg_type": b'"PaymentTypeName"'}


# -- Postgres text parsers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("1970-01-01", 0),
        ("2000-03-01", 11017),
        ("1969-12-31", -1),
        ("infinity", 2**31 - 1),
        ("-infinity", -(2**31 - 1)),
        ("0001-01-01 BC", -719528),  # year 0 of the proleptic Gregorian calendar
        ("4714-11-24 BC", -2440588),  # Julian day 0, Postgres' first date
        ("5874897-12-31", 2145042905),  # Postgres' last date
    ],
)
def test_parse_date(text: str, days: int) -> None:
    assert pgtext.parse_date(text) == days


def test_parse_date_agrees_with_python_on_its_range() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        day = date.fromordinal(rng.randrange(1, date.max.toordinal()))
        assert pgtext.parse_date(day.isoformat()) == (day - date(1970, 1, 1)).days


@pytest.mark.parametrize("bad", ["2020-02-30", "2021-02-29", "2020-13-01", "20-01-01", "today"])
def test_parse_date_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="date"):
        pgtext.parse_date(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-01-01 00:00:00", datetime(2020, 1, 1, tzinfo=UTC)),
        ("2020-01-01 01:02:03.456", datetime(2020, 1, 1, 1, 2, 3, 456000, tzinfo=UTC)),
        ("2020-06-01 12:00:00+05:30", datetime(2020, 6, 1, 6, 30, tzinfo=UTC)),
        ("2020-06-01 12:00:00-09:30", datetime(2020, 6, 1, 21, 30, tzinfo=UTC)),
        ("1899-12-31 23:40:28+00", datetime(1899, 12, 31, 23, 40, 28, tzinfo=UTC)),
        ("1900-01-01 00:00:00+00:19:32", datetime(1899, 12, 31, 23, 40, 28, tzinfo=UTC)),
        ("9999-12-31 23:59:59.999999+00", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_parse_timestamp(text: str, expected: datetime) -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert pgtext.parse_timestamp(text) == (expected - epoch) // timedelta(microseconds=1)


def test_parse_timestamp_beyond_python() -> None:
    assert pgtext.parse_timestamp("infinity") == 2**63 - 1
    assert pgtext.parse_timestamp("-infinity") == -(2**63 - 1)
    bc = pgtext.parse_timestamp("0044-03-15 12:00:00.5 BC")
    assert bc == pgtext.parse_date("0044-03-15 BC") * 86_400_000_000 + 43_200_500_000
    assert pgtext.parse_timestamp("294246-12-31 23:59:59.999999") < 2**63 - 1
    with pytest.raises(ValueError, match="range"):
        pgtext.parse_timestamp("294276-12-31 23:59:59.999999")
    with pytest.raises(ValueError, match="timestamp"):
        pgtext.parse_timestamp("2020-01-01 24:00:00")


def test_parse_time() -> None:
    assert pgtext.parse_time("00:00:00") == 0
    assert pgtext.parse_time("12:34:56.000001") == 45_296_000_001
    assert pgtext.parse_time("24:00:00") == 86_400_000_000
    for bad in ("24:00:00.000001", "12:60:00", "noon"):
        with pytest.raises(ValueError, match="time"):
            pgtext.parse_time(bad)


@pytest.mark.parametrize(
    ("text", "months", "days", "micros"),
    [
        ("P1Y2M-3DT4H5M6.789S", 14, -3, 14_706_789_000),
        ("PT0S", 0, 0, 0),
        ("PT-0.5S", 0, 0, -500_000),
        ("P1DT-0.000001S", 0, 1, -1),
        ("P-1Y-2M3DT-4H-5M-6S", -14, 3, -14_706_000_000),
        ("P2W", 0, 14, 0),
        ("P-178956970Y-8MT-2562047788H-54.775807S", -(2**31), 0, -(2**63 - 1)),
        ("1 year 2 mons -3 days +04:05:06.789", 14, -3, 14_706_789_000),
        ("-1 days -00:00:01", 0, -1, -1_000_000),
        ("00:00:00", 0, 0, 0),
        ("3 mons", 3, 0, 0),
        ("-04:05:06", 0, 0, -14_706_000_000),
        ("100:00:00", 0, 0, 360_000_000_000),
    ],
)
def test_parse_interval(text: str, months: int, days: int, micros: int) -> None:
    assert pgtext.parse_interval(text) == (months, days, micros)


def test_interval_canonical_text_and_refusals() -> None:
    assert pgtext.parse_interval("P1Y2M-3DT4H5M6.789S").canonical() == (
        "14 months -3 days 14706789000 microseconds"
    )
    for bad in ("@ 1 year ago", "P", "1 fortnight", "P1.5Y"):
        with pytest.raises(ValueError, match="interval"):
            pgtext.parse_interval(bad)


def test_parse_bytea() -> None:
    assert pgtext.parse_bytea("00ff00") == b"\x00\xff\x00"
    assert pgtext.parse_bytea("\\x00ff") == b"\x00\xff"
    assert pgtext.parse_bytea("") == b""
    with pytest.raises(ValueError, match="hex"):
        pgtext.parse_bytea("00\\377A")  # what bytea_output=escape gives after wal2json


@pytest.mark.parametrize(
    ("literal", "parsed"),
    [
        ("{}", []),
        ("{1,2,3}", ["1", "2", "3"]),
        ("{1,NULL,3}", ["1", None, "3"]),
        ('{"NULL",NULL,NULL}', ["NULL", None, None]),
        ('{"a b","c,d","e\\"f","g\\\\h",""}', ["a b", "c,d", 'e"f', "g\\h", ""]),
        ('{"{br}"," sp "}', ["{br}", " sp "]),
        ("{{1,2},{3,NULL}}", [["1", "2"], ["3", None]]),
        ('{{"a","b"},{"c","d"}}', [["a", "b"], ["c", "d"]]),
        ("{{{1}},{{2}}}", [[["1"]], [["2"]]]),
        ("[0:2]={7,8,9}", ["7", "8", "9"]),
        ('{" 1 "," 2 "}', [" 1 ", " 2 "]),
        ('{"a,b"}', ["a,b"]),
        ("{\\NULL}", ["NULL"]),
        ('{"2020-01-01 00:00:00+00",-infinity}', ["2020-01-01 00:00:00+00", "-infinity"]),
        ("{héllo,👋}", ["héllo", "👋"]),
    ],
)
def test_parse_array(literal: str, parsed: list[Any]) -> None:
    """Literals as Postgres prints them (psycopg's loader reads Postgres' output form: a
    hand-written ``{ 1 }`` or ``{a\\,b}`` Postgres never prints is read as psycopg reads
    it; tests/integration/test_array_text.py checks the output form against Postgres)."""
    assert pgtext.parse_array(literal) == parsed


@pytest.mark.parametrize(
    "bad", ["{1,2", '{"a}', "1,2", "{1}x", "{{1},2}x", "{{1},2}", "{1,{2}}", "{{1},{2,3}}", "{"]
)
def test_parse_array_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="array literal"):
        pgtext.parse_array(bad)


def test_array_depth() -> None:
    assert pgtext.array_depth([]) == 1
    assert pgtext.array_depth(["1"]) == 1
    assert pgtext.array_depth([["1"], ["2"]]) == 2


# -- converters ------------------------------------------------------------------------


def convert(values: list[Any], text: str, dims: int = 0) -> list[Any]:
    return to_arrow(values, PgType.parse(text, dims)).to_pylist()  # type: ignore[no-any-return]


def refused(values: list[Any], text: str, dims: int = 0) -> PgValueError:
    with pytest.raises(PgValueError) as info:
        to_arrow(values, PgType.parse(text, dims))
    return info.value


def test_integers_json_or_text_and_refusals() -> None:
    assert convert([1, None, -32768], "smallint") == [1, None, -32768]
    assert convert(["5", None], "integer") == [5, None]  # a domain, or numbers-as-string
    assert convert([2**63 - 1, -(2**63)], "bigint") == [2**63 - 1, -(2**63)]
    assert refused([1, 2**31], "integer").index == 1
    assert refused([1, 1.5], "integer").index == 1
    assert refused([True], "integer").index == 0
    assert refused([None, "abc"], "bigint").index == 1


def test_floats_keep_nan_and_infinity_given_as_text() -> None:
    assert convert([0.1, 5, None], "double precision") == [0.1, 5.0, None]
    values = convert(["NaN", "Infinity", "-Infinity", "1.5e+300"], "double precision")
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf, 1.5e300]
    assert convert(["1.1"], "real") == pa.array([1.1], pa.float32()).to_pylist()
    assert refused(["x"], "real").index == 0


def test_decimals_exact_from_floats_ints_and_text() -> None:
    assert convert([1234.5, 0.1, 5, None], "numeric(10,2)") == [
        Decimal("1234.50"),
        Decimal("0.10"),
        Decimal("5.00"),
        None,
    ]
    wide = "99999999999999999999999999.9999999999"
    assert convert([wide, "-" + wide], "numeric(38,10)") == [Decimal(wide), Decimal("-" + wide)]
    assert convert([12345678901234567890], "numeric(20,0)") == [Decimal(12345678901234567890)]
    assert refused([1.5, 999999999999999.9], "numeric(16,1)").index == 0  # lossy as float


def test_decimal_refusals_and_nonfinite() -> None:
    assert refused([1, 123456789.5], "numeric(10,2)").index == 1  # beyond the precision
    assert refused(["1.5", "123456789.5"], "numeric(10,2)").index == 1
    assert refused([1.234], "numeric(10,2)").index == 0  # beyond the scale
    assert refused(["1.234"], "numeric(10,2)").index == 0
    assert refused(["abc"], "numeric(10,2)").index == 0
    assert refused(["1.5", "NaN"], "numeric(10,2)").index == 1
    flags: dict[int, str] = {}
    decimal = PgType.parse("numeric(10,2)")
    values = ["1.5", "NaN", None, "-Infinity"]
    assert to_arrow(values, decimal, flags).to_pylist() == [Decimal("1.50"), None, None, None]
    assert flags == {1: "NaN", 3: "-Infinity"}
    assert convert(["NaN", "1e-30", 7], "numeric") == ["NaN", "1e-30", "7"]
    assert refused([0.5], "numeric").index == 0


def test_text_json_bytea_uuid_interval_and_other() -> None:
    assert convert(["", None, "👋"], "text") == ["", None, "👋"]
    assert refused(["a", 1], "text").index == 1
    assert convert(['{"a" :  1}'], "json") == ['{"a" :  1}']
    assert convert(["00ff", "", None], "bytea") == [b"\x00\xff", b"", None]
    assert refused(["00", "zz"], "bytea").index == 1
    u = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert convert([u, None], "uuid") == [uuid.UUID(u), None]
    assert refused(["a0eebc99"], "uuid").index == 0
    assert convert(["P1D", "infinity"], "interval") == [
        "0 months 1 days 0 microseconds",
        "infinity",
    ]
    assert refused(["P1D", "@ 1 day"], "interval").index == 1
    assert convert(["12:00:00+05", "card"], "time with time zone") == ["12:00:00+05", "card"]


def test_booleans_from_json_and_text() -> None:
    assert convert([True, False, None], "boolean") == [True, False, None]
    assert convert(["t", "f", None], "boolean") == [True, False, None]
    assert refused(["t", "yes"], "boolean").index == 1


def test_dates_and_timestamps_common_and_special() -> None:
    dates = to_arrow(["2020-02-29", "infinity", "0044-03-15 BC", None], PgType.parse("date"))
    assert dates.cast(pa.int32()).to_pylist() == [18321, 2**31 - 1, -735_160, None]
    stamps = to_arrow(
        ["2020-01-01 00:00:00.5+00", "-infinity", "10000-01-01 00:00:00+00"],
        PgType.parse("timestamp with time zone"),
    )
    assert stamps.type == pa.timestamp("us", tz="UTC")
    assert stamps.cast(pa.int64()).to_pylist() == [
        1_577_836_800_500_000,
        -(2**63 - 1),
        253_402_300_800_000_000,
    ]
    assert refused(["2020-01-01 00:00:00", "2020-02-30 00:00:00"], "timestamp").index == 1
    assert refused(["infinity", "2020-02-30"], "date").index == 1
    assert convert(["24:00:00", "00:00:00.000001"], "time without time zone")[1] == time(0, 0, 0, 1)


def test_arrays_nested_typed_and_checked() -> None:
    assert convert(["{1,NULL,3}", "{}", None], "integer[]") == [[1, None, 3], [], None]
    assert convert(["{{1,2},{3,NULL}}", "{}"], "integer[]", 2) == [[[1, 2], [3, None]], []]
    assert refused(["{1,2}"], "integer[]", 2).index == 0  # declared two dimensions
    assert refused(["{{1},{2}}"], "integer[]").index == 0
    assert refused(["{1,x}"], "integer[]").index == 0
    assert refused(["{1", "{2}"], "integer[]").index == 0
    assert convert(['{"\\\\x00ff",NULL}'], "bytea[]") == [[b"\x00\xff", None]]
    assert convert(["{t,f}"], "boolean[]") == [[True, False]]
    assert convert(["{2020-01-01}"], "date[]") == [[date(2020, 1, 1)]]
    flags: dict[int, str] = {}
    decimals = to_arrow(["{1.5}", "{NaN,2}"], PgType.parse("numeric(10,2)[]"), flags)
    assert decimals.to_pylist() == [[Decimal("1.50")], [None, Decimal("2.00")]]
    assert flags == {1: "{NaN,2}"}


def test_to_python_keeps_what_python_cannot_hold_as_text() -> None:
    assert to_python("2020-01-01", PgType.parse("date")) == date(2020, 1, 1)
    assert to_python("infinity", PgType.parse("date")) == "infinity"
    assert to_python("0044-03-15 BC", PgType.parse("date")) == "0044-03-15 BC"
    assert to_python("NaN", PgType.parse("numeric(10,2)")).is_nan()
    assert to_python(1.5, PgType.parse("numeric(10,2)")) == Decimal("1.50")
    assert to_python("{{1,2},{3,4}}", PgType.parse("integer[]")) == [[1, 2], [3, 4]]
    assert to_python(None, PgType.parse("integer")) is None
    with pytest.raises(ValueError, match="int32"):
        to_python(2**40, PgType.parse("integer"))


def test_numbers_spelled_both_ways_in_one_column() -> None:
    """Some messages of a table may be read exactly (numbers as text), others not."""
    assert convert(["1.5", 2.25, None, 3], "numeric(10,2)") == [
        Decimal("1.50"),
        Decimal("2.25"),
        None,
        Decimal("3.00"),
    ]
    assert convert(["1.5", 2.25, 3], "real") == [1.5, 2.25, 3.0]
    assert convert(["1", 2, None], "integer") == [1, 2, None]
    assert refused(["1", 2.5], "integer").index == 1


def test_to_python_refuses_what_does_not_fit() -> None:
    with pytest.raises(PgValueError):
        to_python("abc", PgType.parse("integer"))
    assert to_python("{1.5,NaN}", PgType.parse("numeric(10,2)[]")) == "{1.5,NaN}"
