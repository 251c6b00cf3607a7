"""Key-less tables end to end: pgbench's history (no primary key, REPLICA IDENTITY FULL, NULL
filler, identical rows) and the other pgbench tables, captured, transformed and loaded into
both warehouses; every mirror equals its source table as a multiset of whole rows."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgcdc.devtools.localpg import bindir
from pgcdc.readside.query import open_session
from pgcdc.storage import open_store
from tests.integration.warehouse_support import Pipeline

pytestmark = pytest.mark.integration

TABLES = ("pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history")

# Identical rows, NULLs (filler always, mtime too), then changes that touch duplicates: one of
# three copies deleted by ctid, one of the rest updated by ctid, an UPDATE and a DELETE each
# matching several identical rows (one change per row), an update that changes nothing.
DUPLICATES = """
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES
    (1, 1, 1, 5, '2020-01-01'), (1, 1, 1, 5, '2020-01-01'), (1, 1, 1, 5, '2020-01-01'),
    (2, 1, 7, -3, NULL), (2, 1, 7, -3, NULL),
    (3, 1, 9, 0, '2021-06-01'), (3, 1, 9, 0, '2021-06-01'), (3, 1, 9, 0, '2021-06-01');
"""
TOUCH_DUPLICATES = [
    """DELETE FROM pgbench_history WHERE ctid = (SELECT ctid FROM pgbench_history
           WHERE aid = 1 AND delta = 5 LIMIT 1)""",
    """UPDATE pgbench_history SET delta = 6 WHERE ctid = (SELECT ctid FROM pgbench_history
           WHERE aid = 1 AND delta = 5 LIMIT 1)""",
    "UPDATE pgbench_history SET filler = 'touched' WHERE aid = 7 AND delta = -3",
    "DELETE FROM pgbench_history WHERE aid = 9 AND delta = 0",
    "UPDATE pgbench_history SET delta = delta WHERE aid = 1",
    # A duplicate of a row loaded in an earlier batch: its count comes from the state.
    """INSERT INTO pgbench_history SELECT * FROM pgbench_history
           WHERE mtime IS NOT NULL AND aid <> 1 ORDER BY mtime LIMIT 2""",
    """DELETE FROM pgbench_history WHERE ctid IN (SELECT ctid FROM pgbench_history
           WHERE mtime IS NOT NULL AND aid <> 1 ORDER BY mtime DESC LIMIT 3)""",
]


def pgbench(dsn: str, *args: str) -> None:
    """Run pgbench from the server's binaries against the test database."""
    subprocess.run(
        [str(bindir() / "pgbench"), *args, dsn],
        check=True,
        capture_output=True,
        timeout=300,
    )


def columns_of(p: Pipeline, table: str) -> list[str]:
    rows = p.source(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum",
        (table,),
    )
    return [r[0] for r in rows]


def multiset(rows: list[tuple[Any, ...]]) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(r) for r in rows)


def assert_mirrors_equal_source(p: Pipeline) -> None:
    """Every column of every row, both ways, counting identical rows."""
    for table in TABLES:
        cols = ", ".join(f'"{c}"' for c in columns_of(p, table))
        source = multiset(p.source(f"SELECT {cols} FROM {table}"))
        mirror = multiset(p.sql(f"SELECT {cols} FROM mirror_public.{table}"))
        assert sum(source.values()) > 0, table
        missing, extra = source - mirror, mirror - source
        shown = (table, list(missing.items())[:5], list(extra.items())[:5])
        assert not missing and not extra, shown


def test_pgbench_mirrors_equal_source(
    pg_dsn: str, slot_name: str, tmp_path: Path, warehouse_uri: str
) -> None:
    pgbench(pg_dsn, "-i", "-I", "dt")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE pgbench_history REPLICA IDENTITY FULL")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot_name,))
    pgbench(pg_dsn, "-i", "-I", "gvp", "--scale", "1")
    p = Pipeline(
        pg_dsn,
        slot_name,
        open_store(str(tmp_path / "raw")),
        open_store(str(tmp_path / "processed")),
        warehouse_uri,
    )
    p.cycle()
    pgbench(pg_dsn, "--transactions", "150", "--client", "2", "--no-vacuum")
    p.source(DUPLICATES)
    p.cycle()
    assert p.source("SELECT count(*) FROM pgbench_history WHERE filler IS NULL")[0][0] > 300
    assert_mirrors_equal_source(p)
    for statement in TOUCH_DUPLICATES:
        p.source(statement)
    pgbench(pg_dsn, "--transactions", "50", "--client", "2", "--no-vacuum")
    p.cycle()
    counts = Counter(p.source("SELECT aid, delta, filler FROM pgbench_history WHERE aid IN (1, 7)"))
    assert counts[(1, 5, None)] == 1 and counts[(1, 6, None)] == 1, counts
    assert counts[(7, -3, "touched".ljust(22))] == 2, counts
    assert_mirrors_equal_source(p)
    assert_lake_views_equal_source(p, "pgbench_history")


def assert_lake_views_equal_source(p: Pipeline, table: str) -> None:
    """``pgcdc query``'s views of a key-less table: the whole-log fold of the raw store and
    the processed store's state, each equal to the source as a multiset."""
    cols = ", ".join(f'"{c}"' for c in columns_of(p, table))
    source = multiset(p.source(f"SELECT {cols} FROM {table}"))
    session = open_session(p.raw, p.processed)
    try:
        for view in (f"public.{table}", f"processed.mirror_public_{table}"):
            got = multiset(session.con.execute(f"SELECT {cols} FROM {view}").fetchall())
            assert got == source, (
                view,
                list((source - got).items())[:5],
                list((got - source).items())[:5],
            )
    finally:
        session.close()
