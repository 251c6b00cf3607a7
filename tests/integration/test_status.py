"""`pgcdc status`: a slot lagging past the threshold fails loudly; a healthy one does not."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from storage import open_store
from tests.integration.capture_support import pgcdc, settings_env

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
