"""Driver errors during a load, classified: the warehouse refusing rows is a LoadError-to-be
(quarantined), a lost connection a TransientError naming table and batch (exit 75)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pytest

from schemas.errors import TransientError
from schemas.processed import Output
from warehouse_loader.duckdb_warehouse import DuckDBWarehouse
from warehouse_loader.postgres_warehouse import PostgresWarehouse

pytestmark = pytest.mark.integration

ROWS = pa.table({"id": pa.array([1, 2], pa.int32()), "v": pa.array([1, 2], pa.int32())})
OUTPUT = Output(target="public.t", kind="mirror", key=("id",), objects=("x",))


def test_duckdb_errors_are_classified(tmp_path: Path) -> None:
    wh = DuckDBWarehouse(str(tmp_path / "w.duckdb"))
    try:
        wh.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        wh.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(duckdb.Error) as refused:
            wh.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(duckdb.Error) as io:
            wh.execute(f"COPY t TO '{tmp_path / 'missing' / 'x.csv'}'")
        assert wh.driver_error(refused.value) == (
            False,
            f"{str(refused.value).splitlines()[0]} (ConstraintException)",
        )
        found = wh.driver_error(io.value)
        assert found is not None and found[0] is True, found
        assert wh.driver_error(ValueError("not the driver")) is None
    finally:
        wh.close()


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
