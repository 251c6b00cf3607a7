"""`pgcdc status`: a slot lagging past the threshold fails loudly; a healthy one does not."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from schemas.tables import TableName
from storage import Store, open_store
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
    metric = [x for x in lines if x.get("metric") == "slot_lag_bytes"]
    assert metric and metric[0]["value"] == doc["lag_bytes"]

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
        assert _metric(fresh.stderr, "freshness_seconds") == doc["freshness_seconds"]
        assert _metric(fresh.stderr, "load_lag_bytes") == 0

        conn.execute("INSERT INTO b SELECT generate_series(5, 7)")
        assert pgcdc("capture", env=env).returncode == 0
        stale = pgcdc("status", "--json", env={**env, "PGCDC_MAX_FRESHNESS_SECONDS": "0"})
    assert stale.returncode == 1, stale.stderr
    doc = json.loads(stale.stdout)
    pending = {t["table"]: t["pending_changes"] for t in doc["tables"]}
    assert pending == {"public.a": 0, "public.b": 3}
    assert doc["load"]["bound"] != doc["last_capture_lsn"]
    assert _metric(stale.stderr, "transform_lag_bytes") > 0
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


def _metric(stderr: str, name: str) -> Any:
    found = [x["value"] for x in _lines(stderr) if x.get("metric") == name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]
