"""`pgcdc demo run` (what `make demo` runs) completes on this machine and says what it did."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A folder the postgres user can reach (pytest's tmp_path is private to root)."""
    parent = Path(tempfile.mkdtemp(prefix="pgcdc-demo-"))
    parent.chmod(0o711)
    yield parent / "data"
    env = {**os.environ, "PGCDC_DATA_DIR": str(parent / "data")}
    subprocess.run(_pgcdc("demo", "down"), env=env, check=True, capture_output=True)
    shutil.rmtree(parent)


def _pgcdc(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", *args]


def test_demo_run_end_to_end(data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGCDC_")}
    env["PGCDC_DATA_DIR"] = str(data_dir)
    env["PGCDC_RAW_URI"] = str(data_dir / "raw")
    env["PGCDC_PROCESSED_URI"] = str(data_dir / "processed")
    env["PGCDC_WAREHOUSE_URI"] = str(data_dir / "warehouse.duckdb")
    run = subprocess.run(
        _pgcdc("demo", "run", "--scale", "0.05", "--duration", "3", "--rate", "20"),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    for step in ("1/8", "2/8", "3/8", "4/8", "5/8", "6/8", "7/8", "8/8", "demo done"):
        assert step in out, out
    dsn = (data_dir / "pg" / "dsn").read_text().rsplit("/", 1)[0] + "/totesys"
    password = psycopg.conninfo.conninfo_to_dict(dsn)["password"]
    assert str(password) not in out + run.stderr
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM sales_order").fetchone()
        assert row is not None and row[0] > 0
    # the workload's changes reached the raw store
    assert "captured 0 changes" not in out.split("6/8", 1)[1], out
    assert "current sales orders; revenue" in out and "GBP" in out, out
    assert any((data_dir / "raw").glob("public.sales_order/date=*/hour=*/*.parquet"))
    # a second run keeps the seeded data and still completes
    again = subprocess.run(
        _pgcdc("demo", "run", "--duration", "1"),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already seeded" in again.stdout
