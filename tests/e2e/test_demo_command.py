"""`pgcdc demo run` (what `make demo` runs) completes on this machine and says what it did.

The first run's output is kept as a recording (``test-artifacts/demo/make-demo.txt``, or under
``$PGCDC_TEST_ARTEFACTS``) and checked as the README's committed copy is
(tests/e2e/artefacts.py)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.e2e.artefacts import folder, recording_problems

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
    return [sys.executable, "-m", "pgcdc.pipeline.cli", *args]


def test_demo_run_end_to_end(data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGCDC_")}
    env["PGCDC_DATA_DIR"] = str(data_dir)
    env["PGCDC_RAW_URI"] = str(data_dir / "raw")
    env["PGCDC_PROCESSED_URI"] = str(data_dir / "processed")
    env["PGCDC_WAREHOUSE_URI"] = str(data_dir / "warehouse.duckdb")
    args = ("demo", "run", "--scale", "0.05", "--duration", "3", "--rate", "20")
    run = subprocess.run(
        _pgcdc(*args),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    recording = _record(f"$ pgcdc {' '.join(args)}", run)
    assert recording_problems(recording.read_text()) == [], recording.read_text()
    assert f"PostgreSQL keeps running on 127.0.0.1:{_port(data_dir)} " in recording.read_text()
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
    # the server already ran: its real port, as the first run said, never 0
    port = _port(data_dir)
    assert f"(127.0.0.1:{port})" in again.stdout.split("2/8", 1)[0], again.stdout
    up = subprocess.run(
        _pgcdc("demo", "up"), env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip().endswith(f"on 127.0.0.1:{port}"), up.stdout
    _check_closing_block(again.stdout, data_dir, port, env)


def _record(command: str, run: subprocess.CompletedProcess[str]) -> Path:
    """The run's output as a text recording (the command line, stdout, then any stderr)."""
    path = folder("demo") / "make-demo.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{command}\n{run.stdout}{run.stderr}")
    print(f"recording: {path}")
    return path


def _port(data_dir: Path) -> int:
    """The port in the cluster's own DSN file (an independent source)."""
    dsn = (data_dir / "pg" / "dsn").read_text()
    port = psycopg.conninfo.conninfo_to_dict(dsn)["port"]
    return int(str(port))


def _check_closing_block(out: str, data_dir: Path, port: int, env: dict[str, str]) -> None:
    """After "demo done": the query, dashboard and status commands as they can be typed here
    (the venv's script, or how to activate it), where the server runs and how to stop it.
    The query and status commands it prints run and succeed."""
    closing = out.split("demo done", 1)[1]
    commands = {}
    for line in closing.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) >= 2 and Path(words[0]).name == "pgcdc":
            commands[words[1]] = words
    assert set(commands) == {"query", "dashboard", "status"}, closing
    script = Path(commands["status"][0])
    if str(script) != "pgcdc":  # not on PATH: the venv's script, and how to activate it
        assert script.resolve() == (Path(sys.executable).parent / "pgcdc").resolve()
        assert f"source {script.parent}/activate" in closing, closing
    assert f"PostgreSQL keeps running on 127.0.0.1:{port}" in closing, closing
    assert str(data_dir / "pg" / "data") in closing, closing
    assert "`make demo-down`" in closing and "`make clean`" in closing, closing
    shows = {"query": "snapshot", "status": "public.sales_order"}  # a row of each's output
    for name, row in shows.items():
        words = commands[name]
        run = subprocess.run(
            [sys.executable, "-m", "pgcdc.pipeline.cli", *words[1:]],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, f"{words}: {run.stdout}{run.stderr}"
        assert row in run.stdout, f"{words}: {run.stdout}"
