"""The type registry: one record per kind, and every reader of it agrees with it."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
import pytest

from pgcdc.cdc_reader import codec
from pgcdc.cdc_reader._codec import values
from pgcdc.schemas.pgtypes import KINDS, Codec, PgKind, PgType
from pgcdc.schemas.tablespec import ColumnSpec
from pgcdc.warehouse_loader.postgres_warehouse import pg_type

pytestmark = pytest.mark.unit


def test_every_kind_has_one_record_and_a_converter() -> None:
    assert set(KINDS) == set(PgKind)
    assert all(kind.kind is key for key, kind in KINDS.items())
    structural = {Codec.DECIMAL, Codec.ARRAY}  # to_arrow converts them itself
    assert {k.codec for k in KINDS.values()} - structural <= set(values._CONVERTERS)


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=str)
def test_each_name_parses_to_its_kind(kind: object) -> None:
    for name in kind.names:  # type: ignore[attr-defined]
        expected = kind.kind  # type: ignore[attr-defined]
        parsed = PgType.parse(name)
        assert parsed.kind is (PgKind.NUMERIC_TEXT if name == "numeric" else expected)


@pytest.mark.parametrize("kind", [k for k in KINDS.values() if k.arrow is not None], ids=str)
def test_warehouse_creates_the_registry_type_for_each_kind(kind: object) -> None:
    assert pg_type(kind.arrow) == kind.warehouse  # type: ignore[attr-defined]


def test_warehouse_types_of_parametrised_kinds() -> None:
    assert pg_type(PgType.parse("numeric(12,3)").arrow_type) == "numeric(12,3)"
    assert pg_type(PgType.parse("integer[]", 2).arrow_type) == "integer[][]"
    assert pg_type(PgType.parse("timestamp(3) with time zone").arrow_type) == "timestamptz"
    assert pg_type(pa.timestamp("ns")) == "timestamp"
    assert pg_type(pa.time64("ns")) == "time"
    assert pg_type(pa.uint64()) == "numeric(20,0)"  # DuckDB's, no Postgres kind has it


# A column type of each kind and a value as COPY prints it (bytea: the registry's select)
SAMPLES: dict[PgKind, tuple[str, str]] = {
    PgKind.BOOL: ("boolean", "t"),
    PgKind.INT2: ("smallint", "-32768"),
    PgKind.INT4: ("integer", "7"),
    PgKind.INT8: ("bigint", "9223372036854775807"),
    PgKind.FLOAT4: ("real", "1.1"),
    PgKind.FLOAT8: ("double precision", "0.1"),
    PgKind.DECIMAL: ("numeric(10,2)", "12.30"),
    PgKind.NUMERIC_TEXT: ("numeric", "12.345000"),
    PgKind.TEXT: ("text", 'a "b", c'),
    PgKind.BYTEA: ("bytea", "00ff"),
    PgKind.JSON: ("jsonb", '{"a": 1}'),
    PgKind.UUID: ("uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    PgKind.DATE: ("date", "2020-02-29"),
    PgKind.TIME: ("time without time zone", "24:00:00"),
    PgKind.TIMESTAMP: ("timestamp without time zone", "2020-01-01 00:00:00.5"),
    PgKind.TIMESTAMPTZ: ("timestamp with time zone", "2020-01-01 00:00:00.5+00"),
    PgKind.INTERVAL: ("interval", "1 year 2 mons -3 days +04:05:06.789"),
    PgKind.ARRAY: ("integer[]", "{1,NULL}"),
    PgKind.MACADDR8: ("macaddr8", "08:00:2b:01:02:03:04:05"),
    PgKind.OTHER: ("inet", "10.0.0.1/8"),
}


@pytest.mark.parametrize("kind", list(PgKind), ids=str)
def test_the_snapshot_csv_path_converts_as_the_codec_does(kind: PgKind) -> None:
    """A kind's CSV fast path (or its absence) gives what its converter gives."""
    type_text, value = SAMPLES[kind]
    line = io.StringIO()
    csv.writer(line).writerow([value, ""])  # the value, then a NULL
    columns = [ColumnSpec("v", type_text), ColumnSpec("n", type_text)]
    got, flags = codec.from_copy_csv(pa.py_buffer(line.getvalue().encode()), columns)
    pg = PgType.parse(type_text)
    assert pa.chunked_array(got[0]).combine_chunks() == codec.to_arrow([value], pg)
    assert pa.chunked_array(got[1]).to_pylist() == [None]
    assert not flags


def test_importing_the_codec_builds_no_arrow_array() -> None:
    """An Arrow array built at import time imports pandas: ~1.6 s per CLI process."""
    import subprocess
    import sys

    code = (
        "import sys, pgcdc.cdc_reader.codec, pgcdc.cdc_reader.wal2json;"
        " print('pandas' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_macaddr8_has_its_own_kind_and_warehouse_type() -> None:
    pg = PgType.parse("macaddr8")
    assert pg.kind is PgKind.MACADDR8
    assert pg.arrow_type == pa.string()
    assert pg.info.fixed_width and pg.info.csv  # never TOASTed; CSV reads its text as is
    assert pg_type(pg.arrow_type) == KINDS[PgKind.MACADDR8].warehouse == "text"
