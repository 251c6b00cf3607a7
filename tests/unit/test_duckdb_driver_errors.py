"""DuckDB driver errors during a load, classified (a real DuckDB file, no service): the
warehouse refusing rows is quarantined, I/O is transient, anything else is not a driver error."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pgcdc.warehouse_loader.duckdb_warehouse import DuckDBWarehouse

pytestmark = pytest.mark.unit


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
