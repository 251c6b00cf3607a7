"""A table the warehouse refuses: one ERROR line naming it and the batch, quarantined, held
behind its failure while the other tables load, and loaded in order once the cause is gone."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import psycopg
import pytest

from pgcdc.storage import open_store
from tests.integration.capture_support import pgcdc, settings_env
from tests.integration.warehouse_support import Pipeline

pytestmark = pytest.mark.integration

# The warehouse's own table for the mirror of ``bad``, with a rule the source does not have:
# a real driver error (DuckDB ConstraintException, psycopg CheckViolation) on load.
REFUSING_MIRROR = """CREATE TABLE mirror_public.bad (id INTEGER PRIMARY KEY,
                     v INTEGER CHECK (v < 100))"""


def error_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def mirror(p: Pipeline, table: str) -> list[tuple[object, ...]]:
    return sorted(p.sql(f"SELECT id, v FROM mirror_public.{table}"))


def source(p: Pipeline, table: str) -> list[tuple[object, ...]]:
    return sorted(p.source(f"SELECT id, v FROM {table}"))


@pytest.fixture
def pipeline(pg_dsn: str, slot_name: str, tmp_path: Path, warehouse_uri: str) -> Pipeline:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE good (id int PRIMARY KEY, v int)")
        conn.execute("CREATE TABLE bad (id int PRIMARY KEY, v int)")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot_name,))
    p = Pipeline(
        pg_dsn,
        slot_name,
        open_store(str(tmp_path / "raw")),
        open_store(str(tmp_path / "processed")),
        warehouse_uri,
    )
    with p.warehouse() as wh, wh.transaction():
        wh.execute("CREATE SCHEMA mirror_public")
        wh.execute(REFUSING_MIRROR)
    return p


def test_refused_table_is_quarantined_and_others_load(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    p = pipeline
    p.source("INSERT INTO good VALUES (1, 10), (2, 20), (3, 30)")
    p.source("INSERT INTO bad VALUES (1, 500)")
    p.capture()
    p.transform()
    caplog.clear()
    result = p.load()

    (line,) = error_lines(caplog)
    text = line.getMessage()
    assert "mirror_public.bad" in text and "batch 1" in text, text
    assert "\n" not in text and line.exc_info is None, text
    assert [e.table for e in result.refused] == ["mirror_public.bad"]
    assert result.batches == 1 and result.loaded_up_to == 1
    assert mirror(p, "good") == source(p, "good")
    assert mirror(p, "bad") == []
    assert p.sql("SELECT run, target FROM pgcdc_load_quarantine") == [(1, "mirror_public.bad")]

    # Later batches: good goes on; bad is held behind batch 1 (not applied out of order: its
    # update of row 1 would pass the check, and then batch 1 would overwrite it).
    p.source("INSERT INTO good VALUES (4, 40)")
    p.source("INSERT INTO bad VALUES (2, 5)")
    p.source("UPDATE bad SET v = 7 WHERE id = 1")
    p.capture()
    p.transform()
    caplog.clear()
    p.load()
    texts = sorted(r.getMessage() for r in error_lines(caplog))
    assert len(texts) == 2, texts
    assert "batch 1" in texts[0] and "still quarantined" in texts[0], texts
    assert "batch 2" in texts[1] and "held behind" in texts[1], texts
    assert all("mirror_public.bad" in t for t in texts), texts
    assert mirror(p, "good") == source(p, "good")
    assert mirror(p, "bad") == []
    assert sorted(p.sql("SELECT run FROM pgcdc_load_quarantine")) == [(1,), (2,)]

    # The cause removed, the next load applies the held outputs in batch order.
    with p.warehouse() as wh, wh.transaction():
        wh.execute("DROP TABLE mirror_public.bad")
    caplog.clear()
    p.load()
    assert error_lines(caplog) == []
    assert mirror(p, "bad") == source(p, "bad") == [(1, 7), (2, 5)]
    assert p.sql("SELECT count(*) FROM pgcdc_load_quarantine") == [(0,)]


def test_whole_table_output_releases_the_held_ones(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    """A truncate (like a re-snapshot) makes the mirror output the whole table: it loads over
    the held outputs, which are then obsolete and leave the quarantine."""
    p = pipeline
    p.source("INSERT INTO bad VALUES (1, 500)")
    p.capture()
    p.transform()
    env = settings_env(
        p.dsn,
        p.raw,
        p.slot,
        PGCDC_PROCESSED_URI=p.processed.uri,
        PGCDC_WAREHOUSE_URI=p.warehouse_uri,
    )
    run = pgcdc("load", env=env)  # the command line: JSON lines on stderr (not a terminal)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    errors = [e for e in map(json.loads, run.stderr.splitlines()) if e["level"] == "ERROR"]
    assert len(errors) == 1, run.stderr
    assert errors[0]["table"] == "mirror_public.bad" and errors[0]["batch"] == 1, errors
    assert "batch 1: table mirror_public.bad not loaded" in errors[0]["message"], errors
    assert p.sql("SELECT run FROM pgcdc_load_quarantine") == [(1,)]
    p.source("TRUNCATE bad")
    p.source("INSERT INTO bad VALUES (3, 9)")
    p.capture()
    p.transform()
    caplog.clear()
    p.load()
    (line,) = error_lines(caplog)  # batch 1 retried first, still refused
    assert "batch 1" in line.getMessage() and "still quarantined" in line.getMessage()
    assert mirror(p, "bad") == source(p, "bad") == [(3, 9)]
    assert p.sql("SELECT count(*) FROM pgcdc_load_quarantine") == [(0,)]
    caplog.clear()
    p.load()
    assert error_lines(caplog) == []
