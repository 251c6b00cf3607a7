"""`pgcdc status`: a slot lagging past the threshold fails loudly; a healthy one does not."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgcdc.schemas.tables import TableName
from pgcdc.storage import Store, open_store
from tests.integration.capture_support import pgcdc, settings_env
from tests.lake import changes

pytestmark = pytest.mark.integration


def test_lagging_slot_fails_and_healthy_slot_passes(
    pg_dsn: str, slot_name: str, tmp_path: Path
) -> None:
    raw = open_store(str(tmp_path / "raw"))
    env = settings_env(pg_dsn, raw, slot_name, PGCDC_MAX_SLOT_LAG_BYTES=str(256 * 1024))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, pad text)")
        assert pgcdc("capture", env=env).returncode == 0  # creates the slot
        conn.execute("INSERT INTO t SELECT g, repeat('x', 500) FROM generate_series(1, 4000) g")

    lagging = pgcdc("status", "--json", env=env)
    assert lagging.returncode == 1, lagging.stderr
    doc = json.loads(lagging.stdout)
    assert doc["lag_bytes"] > 256 * 1024
    lines = [json.loads(x) for x in lagging.stderr.splitlines() if x.startswith("{")]
    errors = [x for x in lines if x["level"] == "ERROR"]
    assert len(errors) == 1 and "not captured" in errors[0]["message"]
    # the figures are in the report only: metrics are EMF lines on Lambda (test_handlers.py)
    assert not [x for x in lines if "metric" in x or "slot_lag_bytes" in x["message"]]

    assert pgcdc("capture", env=env).returncode == 0
    healthy = pgcdc("status", "--json", env=env)
    assert healthy.returncode == 0, healthy.stderr
    assert json.loads(healthy.stdout)["lag_bytes"] < 256 * 1024
    assert '"level": "ERROR"' not in healthy.stderr


def test_pipeline_figures_and_freshness_threshold(
    pg_dsn: str, slot_name: str, tmp_path: Path
) -> None:
    """Per-table counts, transform/load positions and freshness; its threshold fails loudly."""
    raw = open_store(str(tmp_path / "raw"))
    env = settings_env(
        pg_dsn,
        raw,
        slot_name,
        PGCDC_PROCESSED_URI=str(tmp_path / "processed"),
        PGCDC_WAREHOUSE_URI=str(tmp_path / "warehouse.duckdb"),
        PGCDC_MAX_FRESHNESS_SECONDS="3600",
    )
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE a (id int PRIMARY KEY, v text)")
        conn.execute("CREATE TABLE b (id int PRIMARY KEY)")
        assert pgcdc("capture", env=env).returncode == 0  # creates the slot
        conn.execute("INSERT INTO a SELECT g, 'x' FROM generate_series(1, 30) g")
        conn.execute("UPDATE a SET v = 'y' WHERE id <= 5")
        conn.execute("INSERT INTO b SELECT generate_series(1, 4)")
        assert pgcdc("capture", env=env).returncode == 0

        unloaded = pgcdc("status", "--json", env=env)  # nothing loaded: freshness unknown
        assert unloaded.returncode == 1, unloaded.stderr
        assert json.loads(unloaded.stdout)["freshness_seconds"] is None
        assert _errors(unloaded.stderr) == [
            "warehouse freshness not known (nothing loaded, or the warehouse could not be read)"
        ]

        for step in ("transform", "load"):
            assert pgcdc(step, env=env).returncode == 0
        fresh = pgcdc("status", "--json", env=env)
        assert fresh.returncode == 0, fresh.stderr
        doc = json.loads(fresh.stdout)
        counts = {t["table"]: (t["changes"], t["pending_changes"]) for t in doc["tables"]}
        assert counts == {"public.a": (35, 0), "public.b": (4, 0)}
        assert doc["transform"]["bound"] == doc["load"]["bound"] == doc["last_capture_lsn"]
        assert doc["transform"]["run"] == doc["load"]["run"] == 1
        newest = max(_commit_times(raw, "a") + _commit_times(raw, "b"))
        assert dt.datetime.fromisoformat(doc["newest_loaded_commit_at"]) == newest
        assert 0 <= doc["freshness_seconds"] < 3600
        assert doc["problems"] == []
        assert doc["load_lag_bytes"] == doc["transform_lag_bytes"] == 0
        assert _lines(fresh.stderr) == []  # no metric lines, no problems

        conn.execute("INSERT INTO b SELECT generate_series(5, 7)")
        assert pgcdc("capture", env=env).returncode == 0
        stale = pgcdc("status", "--json", env={**env, "PGCDC_MAX_FRESHNESS_SECONDS": "0"})
    assert stale.returncode == 1, stale.stderr
    doc = json.loads(stale.stdout)
    pending = {t["table"]: t["pending_changes"] for t in doc["tables"]}
    assert pending == {"public.a": 0, "public.b": 3}
    assert doc["load"]["bound"] != doc["last_capture_lsn"]
    assert doc["transform_lag_bytes"] > 0
    errors = _errors(stale.stderr)
    assert len(errors) == 1 and errors[0].startswith("warehouse freshness ")
    assert [p.split(":")[0] for p in doc["problems"]] == errors


def _commit_times(raw: Store, table: str) -> list[dt.datetime]:
    data = changes(raw, TableName("public", table))
    assert data is not None
    return list(data.column("_commit_ts").to_pylist())


def _lines(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in stderr.splitlines() if x.startswith("{")]


def _errors(stderr: str) -> list[str]:
    return [x["message"].split(":")[0] for x in _lines(stderr) if x["level"] == "ERROR"]


LSN = r"[0-9A-F]{1,8}/[0-9A-F]{1,8}"
SIZE = r"\d[\d,]*(\.\d)? (bytes|kB|MB|GB|TB)"


def test_text_report_is_readable_and_metrics_stay_off_stderr(
    pg_dsn: str, slot_name: str, tmp_path: Path
) -> None:
    """Without --json: a table per captured table, LSNs as X/Y, sizes in units, the
    thresholds beside their figures, "unlimited" for no WAL limit, and nothing on stderr
    (metrics are published as EMF by the Lambda handlers only)."""
    raw = open_store(str(tmp_path / "raw"))
    env = settings_env(
        pg_dsn,
        raw,
        slot_name,
        PGCDC_PROCESSED_URI=str(tmp_path / "processed"),
        PGCDC_WAREHOUSE_URI=str(tmp_path / "warehouse.duckdb"),
        PGCDC_MAX_FRESHNESS_SECONDS="3600",
        PGCDC_LOG_FORMAT="text",
    )
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE shown (id int PRIMARY KEY, v text)")
        assert pgcdc("capture", env=env).returncode == 0  # creates the slot
        conn.execute("INSERT INTO shown SELECT g, 'x' FROM generate_series(1, 12) g")
        keep = conn.execute("SHOW max_slot_wal_keep_size").fetchone()
    for step in ("capture", "transform", "load"):
        assert pgcdc(step, env=env).returncode == 0
    run = pgcdc("status", env=env)
    doc = json.loads(pgcdc("status", "--json", env=env).stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stderr == ""
    out = run.stdout
    assert "{" not in out and "None" not in out, out
    row = next(line for line in out.splitlines() if "public.shown" in line)
    assert re.search(rf"public\.shown\s+1\s+12\s+{LSN}\s+{LSN}\s+0\s*$", row), out
    assert re.search(rf"confirmed LSN\s+{doc['confirmed_lsn']}\s*$", out, re.M), out
    assert re.search(rf"lag\s+{SIZE} of WAL not captured; limit 1\.0 GB", out), out
    assert re.search(rf"retained WAL\s+{SIZE}\s*$", out, re.M), out
    if keep == ("-1",):  # the test server keeps WAL for slots without limit
        assert re.search(r"safe_wal_size\s+unlimited", out), out
    bound = doc["load"]["bound"]
    assert re.fullmatch(LSN, bound)
    assert re.search(rf"transform\s+run 1 up to {bound}, \d{{4}}-\d\d-\d\d [\d:]+ UTC", out)
    assert re.search(rf"load\s+run 1 up to {bound}, .*; 0 bytes of captured WAL behind", out)
    assert re.search(r"freshness\s+\d+ (s|min \d+ s); limit 1 h 0 min", out), out
    newest = dt.datetime.fromisoformat(doc["newest_loaded_commit_at"])
    assert f"newest commit  {newest:%Y-%m-%d %H:%M:%S} UTC" in out, out
    assert "problems: none" in out
