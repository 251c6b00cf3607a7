"""The type registry: one record per kind, and every reader of it agrees with it."""

from __future__ import annotations

import pyarrow as pa
import pytest

from cdc_reader._codec import values
from schemas.pgtypes import KINDS, Codec, PgKind, PgType
from warehouse_loader.postgres_warehouse import pg_type

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


def test_importing_the_codec_builds_no_arrow_array() -> None:
    """An Arrow array built at import time imports pandas: ~1.6 s per CLI process."""
    import subprocess
    import sys

    code = "import sys, cdc_reader.codec, cdc_reader.wal2json; print('pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
