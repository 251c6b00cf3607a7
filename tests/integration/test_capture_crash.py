"""Exactly-once under crashes: the process dies in each gap, a re-run repairs everything.

Each gap is where a real crash can fall: after the intent record, in the middle of a batch's
files, after all files before the position record, after the position record before the
slot moves. The crash is a real process exit (``os._exit``), not an exception.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pyarrow.compute as pc
import pytest

from pgcdc.schemas.faults import CAPTURE_POINTS as POINTS
from pgcdc.schemas.faults import CRASH_EXIT_CODE
from pgcdc.schemas.tables import TableName
from pgcdc.storage import Store
from tests.integration.capture_support import (
    assert_lake_equals_source,
    make_store,
    pgcdc,
    settings_env,
)
from tests.lake import change_files, changes

pytestmark = pytest.mark.integration

TABLES = (TableName("public", "orders"), TableName("public", "lines"))


def workload(dsn: str, rounds: int, start: int) -> None:
    """Transactions touching both tables: inserts, updates, deletes."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(start, start + rounds):
            with conn.transaction():
                conn.execute("INSERT INTO orders VALUES (%s, 'new', %s)", (i, i * 1.25))
                conn.execute(
                    "INSERT INTO lines SELECT %s * 10 + g, %s, g FROM generate_series(1, 6) g",
                    (i, i),
                )
                conn.execute("UPDATE orders SET status = 'paid' WHERE id = %s", (i - 1,))
                conn.execute("DELETE FROM lines WHERE id = %s", ((i - 2) * 10 + 1,))


@pytest.mark.parametrize("backend", ["local", "s3"])
@pytest.mark.parametrize("point", POINTS)
def test_crash_then_rerun_is_exactly_once(
    pg_dsn: str,
    slot_name: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    backend: str,
    point: str,
) -> None:
    raw: Store = make_store(request, tmp_path, backend)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, status text, amount numeric(8,2))")
        conn.execute("CREATE TABLE lines (id int PRIMARY KEY, order_id int, qty int)")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot_name,))
    # 5 transactions of 7-9 changes at 25 rows a batch: batch 1 (4 transactions) is cut by
    # size, batch 2 (the one that crashes) by the end of what was pending, so the replay,
    # which sees more pending changes, must cut it at the same place to rewrite its objects
    workload(pg_dsn, rounds=5, start=1)
    env = settings_env(pg_dsn, raw, slot_name)
    flags = ("capture", "--max-batch-rows", "25", "--log-format", "json")

    crashed = pgcdc(*flags, env={**env, "PGCDC_FAULT": f"{point}:2"})
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    assert f"injected crash at {point}" in crashed.stderr
    left_behind = {t: change_files(raw, t) for t in TABLES}

    workload(pg_dsn, rounds=5, start=100)  # more pending than the crashed run saw
    rerun = pgcdc(*flags, env=env)
    assert rerun.returncode == 0, rerun.stderr

    assert_lake_equals_source(pg_dsn, raw)
    for table in TABLES:
        after = change_files(raw, table)
        assert set(left_behind[table]) <= set(after), "a crashed batch was renamed"
        data = changes(raw, table)
        assert data is not None
        pairs = pc.binary_join_element_wise(
            pc.cast(data.column("_lsn"), "string"), pc.cast(data.column("_seq"), "string"), ":"
        )
        assert len(pc.unique(pairs)) == data.num_rows, f"{table}: a change is stored twice"
