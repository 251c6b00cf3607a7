"""Values whose warehouse column is ``text`` reach a PostgreSQL warehouse as the text a user
reads: a UUID in its canonical form, a nested value as JSON."""

from __future__ import annotations

import uuid

import pyarrow as pa
import pytest

from pgcdc.schemas.processed import Output
from pgcdc.warehouse_loader.postgres_warehouse import PostgresWarehouse

pytestmark = pytest.mark.integration

ID = uuid.UUID("a7afe7ba-4cbe-4a4e-9032-87b7da8977b3")


def test_uuid_and_nested_values_are_stored_as_their_text(pg_warehouse_dsn: str) -> None:
    uuids = pa.ExtensionArray.from_storage(pa.uuid(), pa.array([ID.bytes, None], pa.binary(16)))
    rows = pa.table(
        {
            "id": pa.array([1, 2], pa.int32()),
            "u": uuids,
            "us": pa.ListArray.from_arrays(pa.array([0, 1, 1], pa.int32()), uuids.slice(0, 1)),
            "s": pa.array([{"a": 1}, None], pa.struct([("a", pa.int32())])),
            "_deleted": pa.array([False, False]),
        }
    )
    output = Output(target="public.texts", kind="mirror", key=("id",), objects=("x",))
    wh = PostgresWarehouse(pg_warehouse_dsn)
    try:
        with wh.transaction():
            wh.apply_output(0, output, rows, 1)
        table = f"{wh.quote('mirror_public')}.{wh.quote('texts')}"
        stored = wh.execute(f"SELECT id, u, us, s FROM {table} ORDER BY id")
    finally:
        wh.close()
    assert stored == [
        (1, str(ID), f'["{ID}"]', '{"a": 1}'),
        (2, None, "[]", None),
    ]
