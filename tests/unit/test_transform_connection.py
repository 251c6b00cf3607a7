"""A transform run closes the DuckDB connection it opened, whether it succeeds or fails.

The raw store is made without PostgreSQL: recorded wal2json output captured by the capture
run itself (tests/unit/test_capture_recorded.py), its position stored where the transformer
reads it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pgcdc.cdc_reader.state import StoreStateStore
from pgcdc.storage import open_store
from pgcdc.transformer import runner
from tests.recorded_capture import SLOT, run_capture

pytestmark = pytest.mark.unit


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[duckdb.DuckDBPyConnection]:
    """Every connection ``pgcdc.transformer.runner`` opens (the real ones, only recorded)."""
    connections: list[duckdb.DuckDBPyConnection] = []
    real = duckdb.connect

    def connect(*args: object, **kwargs: object) -> duckdb.DuckDBPyConnection:
        con = real(*args, **kwargs)  # type: ignore[arg-type]
        connections.append(con)
        return con

    monkeypatch.setattr(runner.duckdb, "connect", connect)
    return connections


def is_closed(con: duckdb.DuckDBPyConnection) -> bool:
    try:
        con.execute("SELECT 1")
    except duckdb.ConnectionException:
        return True
    return False


def captured_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, select: str) -> Path:
    """A raw store with the recorded changes; a model folder with one dimension over the
    recorded ``customer`` table, computed by ``select``."""
    got = run_capture(tmp_path, monkeypatch, "multi_table")
    position = got.state.latest_position(SLOT)
    assert position is not None
    StoreStateStore(got.raw).save_position(position)
    model = tmp_path / "model"
    model.mkdir()
    header = "-- kind: dimension\n-- key: id\n-- sources: public.customer\n"
    (model / "dim_customer.sql").write_text(f"{header}{select}\n")
    return model


def test_a_run_closes_its_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: list[duckdb.DuckDBPyConnection]
) -> None:
    model = captured_lake(tmp_path, monkeypatch, "SELECT id, upper(name) AS name FROM customer")
    raw, processed = open_store(str(tmp_path / "raw")), open_store(str(tmp_path / "processed"))
    result = runner.transform(raw, processed, slot=SLOT, model_dir=model)
    assert result.run == 1 and result.rows == {"dim_customer": 2}  # Edsger W., Alan (gone)
    assert len(opened) == 1
    assert is_closed(opened[0])


def test_a_failed_run_closes_its_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: list[duckdb.DuckDBPyConnection]
) -> None:
    model = captured_lake(tmp_path, monkeypatch, "SELECT id, no_such_column FROM customer")
    raw, processed = open_store(str(tmp_path / "raw")), open_store(str(tmp_path / "processed"))
    with pytest.raises(duckdb.BinderException, match="no_such_column"):
        runner.transform(raw, processed, slot=SLOT, model_dir=model)
    assert len(opened) == 1
    assert is_closed(opened[0])
