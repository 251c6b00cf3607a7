"""An idle ``pgcdc run`` (the capture bound moved, no captured table changed) writes no
batch; ``pgcdc status`` still shows when the transformer last ran, and the next real batch
folds exactly the changes after the last one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.processed import BATCH_PREFIX
from pgcdc.storage import open_store
from tests.integration.capture_support import pgcdc, settings_env

pytestmark = pytest.mark.integration


def _run(env: dict[str, str]) -> list[str]:
    """``pgcdc run`` once; its three summary lines (capture, transform, load)."""
    done = pgcdc("run", env={**env, "PGCDC_LOG_FORMAT": "text"})  # the lines a person reads
    assert done.returncode == 0, done.stderr
    return [x for x in done.stdout.splitlines() if x.split(":")[0] in ("transform", "load")]


def _status(env: dict[str, str]) -> dict[str, Any]:
    done = pgcdc("status", "--json", env=env)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def test_idle_run_writes_no_batch_and_status_shows_it_ran(
    pg_dsn: str, slot_name: str, tmp_path: Path
) -> None:
    """Batch 1 from one insert; two runs while only an uncaptured table changes write no
    batch and load nothing, yet status's transform time and bound move; an insert after
    them becomes batch 2 with exactly that change."""
    raw = open_store(str(tmp_path / "raw"))
    processed = open_store(str(tmp_path / "processed"))
    env = settings_env(
        pg_dsn,
        raw,
        slot_name,
        PGCDC_PROCESSED_URI=processed.uri,
        PGCDC_WAREHOUSE_URI=str(tmp_path / "warehouse.duckdb"),
        PGCDC_TABLES="public.kept",
    )
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (id int PRIMARY KEY, v text)")
        conn.execute("CREATE TABLE other (id int PRIMARY KEY)")
        assert pgcdc("capture", env=env).returncode == 0  # creates the slot
        conn.execute("INSERT INTO kept VALUES (1, 'a')")
        first = _run(env)
        assert first[0].startswith("transform: batch 1: 1 change of 1 table → "), first
        assert first[1].startswith("load: 1 batch, "), first
        ran = _status(env)["transform"]

        for n in (1, 2):
            conn.execute("INSERT INTO other VALUES (%s)", (n,))
            idle = _run(env)
            assert idle[0].startswith("transform: nothing new up to "), idle
            assert idle[1].startswith("load: 0 batches, 0 rows, up to batch 1, "), idle
            manifests = [k for k in processed.list_keys(BATCH_PREFIX) if k.endswith(".json")]
            assert [k for k in manifests if k.endswith(".batch.json")] == [
                f"{BATCH_PREFIX}/000000/0000000001.batch.json"
            ]
            doc = _status(env)
            now = doc["transform"]
            assert now["run"] == 1 and now["at"] > ran["at"], (ran, now)
            assert Lsn.parse(now["bound"]) > Lsn.parse(ran["bound"]), (ran, now)
            assert now["bound"] == doc["last_capture_lsn"], doc
            ran = now

        conn.execute("INSERT INTO kept VALUES (2, 'b')")
        second = _run(env)
    assert second[0].startswith("transform: batch 2: 1 change of 1 table → "), second
    assert second[1].startswith("load: 1 batch, "), second
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as wh:
        rows = wh.sql("SELECT id, v FROM mirror_public.kept ORDER BY id").fetchall()
    assert rows == [(1, "a"), (2, "b")]
