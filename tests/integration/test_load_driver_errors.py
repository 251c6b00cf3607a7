"""A PostgreSQL warehouse connection lost during a load: a TransientError naming the table and
the batch (exit 75), not a quarantine (the data is not at fault)."""

from __future__ import annotations

import psycopg
import pyarrow as pa
import pytest

from pgcdc.schemas.errors import TransientError
from pgcdc.schemas.processed import Output
from pgcdc.warehouse_loader.postgres_warehouse import PostgresWarehouse

pytestmark = pytest.mark.integration

ROWS = pa.table({"id": pa.array([1, 2], pa.int32()), "v": pa.array([1, 2], pa.int32())})
OUTPUT = Output(target="public.t", kind="mirror", key=("id",), objects=("x",))


def test_lost_postgres_connection_is_transient_naming_table_and_batch(
    pg_warehouse_dsn: str,
) -> None:
    wh = PostgresWarehouse(pg_warehouse_dsn)
    try:
        (pid,) = wh.execute("SELECT pg_backend_pid()")[0]

        def load_after_the_connection_died() -> None:
            with wh.transaction():
                with psycopg.connect(pg_warehouse_dsn, autocommit=True) as other:
                    other.execute("SELECT pg_terminate_backend(%s)", (pid,))
                wh.apply_output(0, OUTPUT, ROWS, 7)

        with pytest.raises(TransientError) as lost:
            load_after_the_connection_died()
        text = str(lost.value)
        assert "batch 7" in text and "mirror_public.t" in text and "\n" not in text, text
    finally:
        wh.close()
