"""The DuckDB warehouse waits out another process's lock on its file, then fails clearly."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pgcdc.schemas.errors import TransientError
from pgcdc.warehouse_loader.duckdb_warehouse import DuckDBWarehouse

pytestmark = pytest.mark.unit  # DuckDB files and processes of its own: no service

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_open_waits_for_a_short_lock(tmp_path: Path) -> None:
    path = tmp_path / "wh.duckdb"
    holder = _hold(path, 1.0)
    began = time.monotonic()
    warehouse = DuckDBWarehouse(str(path))
    try:
        assert time.monotonic() - began >= 0.5  # it did wait for the holder
        assert warehouse.loaded_run() == 0
    finally:
        warehouse.close()
        holder.communicate(timeout=30)


def test_open_gives_up_with_a_transient_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "wh.duckdb"
    monkeypatch.setattr(DuckDBWarehouse, "LOCK_WAIT_SECONDS", 0.5)
    holder = _hold(path, 30.0)
    try:
        with pytest.raises(TransientError, match=str(path)):
            DuckDBWarehouse(str(path))
    finally:
        holder.kill()
        holder.communicate(timeout=30)


def test_status_reads_the_load_position_once_a_load_lets_go(tmp_path: Path) -> None:
    """`pgcdc status` during a load waits for the file instead of reporting nothing loaded."""
    import duckdb

    from pgcdc.readside import status

    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE pgcdc_load_state (run BIGINT PRIMARY KEY, bound BIGINT NOT NULL, "
        "loaded_at TIMESTAMPTZ NOT NULL, newest_commit TIMESTAMPTZ)"
    )
    con.execute("INSERT INTO pgcdc_load_state VALUES (7, 4096, now(), now())")
    con.close()
    holder = _hold(path, 1.0)
    try:
        position = status.load_position(str(path))
    finally:
        holder.communicate(timeout=30)
    assert position is not None
    assert position.run == 7
