"""Snapshot bootstrap: the copy hands over to the stream exactly at the slot's start."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pyarrow.compute as pc
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgcdc.cdc_reader.capture import CaptureOptions, drain
from pgcdc.cdc_reader.snapshot import SnapshotOptions, snapshot
from pgcdc.devtools.demo import init_demo, run_workload
from pgcdc.schemas import layout
from pgcdc.schemas.errors import SourceError
from pgcdc.schemas.faults import CRASH_EXIT_CODE, Point
from pgcdc.schemas.tables import TableName
from pgcdc.storage import Store
from tests.harness import PgServer
from tests.integration.capture_support import (
    DEMO_TABLES,
    Following,
    assert_lake_equals_source,
    make_store,
    pgcdc,
    settings_env,
)
from tests.lake import changes

pytestmark = pytest.mark.integration


@pytest.fixture(params=["local", "s3"])
def raw(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return make_store(request, tmp_path, request.param)


def test_handover_under_load_is_exact(pg_dsn: str, slot_name: str, raw: Store) -> None:
    """The workload runs at full speed during the snapshot and after it."""
    init_demo(pg_dsn, scale=0.1)
    stop = threading.Event()
    errors: list[BaseException] = []

    def load() -> None:
        try:
            run_workload(pg_dsn, rate=0, duration=60, seed=3, stop=stop)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        time.sleep(0.5)
        result = snapshot(pg_dsn, raw, SnapshotOptions(slot=slot_name, chunk_pages=8))
        time.sleep(1.0)
    finally:
        stop.set()
        worker.join()
    assert not errors
    drain(pg_dsn, raw, CaptureOptions(slot=slot_name))
    assert_lake_equals_source(pg_dsn, raw)
    for name in DEMO_TABLES:
        table = TableName("public", name)
        data = changes(raw, table)
        assert data is not None
        snap = data.filter(pc.equal(data.column("_op"), "r"))
        stream = data.filter(pc.not_equal(data.column("_op"), "r"))
        assert snap.num_rows == result.rows[str(table)]
        if stream.num_rows == 0:
            continue
        # nothing in the stream was already in the snapshot
        assert pc.min(stream.column("_lsn")).as_py() > int(result.lsn), table
        key = f"{name}_id"
        in_snapshot = set(snap.column(key).to_pylist())
        first_ops: dict[object, str] = {}
        for row in stream.sort_by([("_lsn", "ascending"), ("_seq", "ascending")]).to_pylist():
            first_ops.setdefault(
                row[key] if row[key] is not None else row["_old_key"][key], row["_op"]
            )
        doubled = [k for k, op in first_ops.items() if op == "c" and k in in_snapshot]
        assert not doubled, f"{table}: inserted again after the snapshot: {doubled[:5]}"


def test_resnapshot_one_table_while_capture_follows(
    pg_dsn: str, slot_name: str, raw: Store
) -> None:
    init_demo(pg_dsn, scale=0.02)
    snapshot(pg_dsn, raw, SnapshotOptions(slot=slot_name))
    env = settings_env(pg_dsn, raw, slot_name)
    with (
        Following(env, flush_every=0.3) as follow,
        psycopg.connect(pg_dsn, autocommit=True) as conn,
    ):
        conn.execute("UPDATE payment SET paid = NOT paid WHERE payment_id % 7 = 0")
        conn.execute("DELETE FROM payment WHERE payment_id % 11 = 0")
        time.sleep(0.5)
        again = pgcdc("snapshot", "--table", "public.payment", env=env)
        assert again.returncode == 0, again.stderr
        conn.execute(
            "UPDATE payment SET payment_amount = payment_amount + 1 WHERE payment_id % 5 = 0"
        )
        conn.execute("DELETE FROM payment WHERE payment_id % 13 = 0")
        time.sleep(1.5)
    assert follow.returncode == 0, follow.stderr
    assert pgcdc("capture", env=env).returncode == 0
    assert_lake_equals_source(pg_dsn, raw)
    keys = raw.list_keys("public.payment")
    snapshots = {k.split("/")[1] for k in keys if "/snapshot=" in k}
    assert len(snapshots) == 2


def test_interrupted_snapshot_restarts_cleanly(pg_dsn: str, slot_name: str, raw: Store) -> None:
    init_demo(pg_dsn, scale=0.05)
    env = settings_env(pg_dsn, raw, slot_name)
    crashed = pgcdc(
        "snapshot",
        "--chunk-pages",
        "4",
        "--workers",
        "1",
        env={**env, "PGCDC_FAULT": f"{Point.SNAPSHOT_PART}:5"},
    )
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    unfinished = [k for k in raw.list_keys() if "/snapshot=" in k]
    assert unfinished and not any(k.endswith(layout.SNAPSHOT_MANIFEST) for k in unfinished)
    rerun = pgcdc("snapshot", "--chunk-pages", "4", env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert "did not finish" in rerun.stderr
    run_workload(pg_dsn, rate=0, duration=1)
    assert pgcdc("capture", env=env).returncode == 0
    assert_lake_equals_source(pg_dsn, raw)
    # the unfinished snapshot's parts are still there but never read: no doubled rows
    for name in DEMO_TABLES:
        data = changes(raw, TableName("public", name))
        assert data is not None
        snap = data.filter(pc.equal(data.column("_op"), "r"))
        assert len(pc.unique(snap.column(f"{name}_id"))) == snap.num_rows


def test_second_bootstrap_is_refused(pg_dsn: str, slot_name: str, raw: Store) -> None:
    init_demo(pg_dsn, scale=0.01)
    snapshot(pg_dsn, raw, SnapshotOptions(slot=slot_name))
    with pytest.raises(SourceError, match="re-snapshot tables with"):
        snapshot(pg_dsn, raw, SnapshotOptions(slot=slot_name))


def test_missing_select_privilege_fails_cleanly(
    pg_server: PgServer, pg_dsn: str, slot_name: str, raw: Store
) -> None:
    init_demo(pg_dsn, scale=0.01)
    role, password = f"snap_{slot_name[-8:]}", "Secret-Pw-123"
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN REPLICATION PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
    try:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(
                    sql.Identifier(role)
                )
            )
            conn.execute(sql.SQL("REVOKE SELECT ON payment FROM {}").format(sql.Identifier(role)))
        info = {k: str(v) for k, v in conninfo_to_dict(pg_dsn).items()}
        dsn = make_conninfo(**{**info, "user": role, "password": password})
        run = pgcdc("snapshot", env=settings_env(dsn, raw, slot_name))
        assert run.returncode == 1
        assert "no SELECT privilege on public.payment" in run.stderr
        assert password not in run.stderr
        assert not [k for k in raw.list_keys() if k.endswith(layout.SNAPSHOT_MANIFEST)]
        with psycopg.connect(pg_dsn, autocommit=True) as conn:  # refused before the slot
            left = conn.execute(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (slot_name,)
            ).fetchone()
        assert left == (0,)
    finally:
        pg_server.drop_database(str(conninfo_to_dict(pg_dsn)["dbname"]))
        with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_drop_table_during_snapshot_waits_for_the_copy(
    pg_dsn: str, slot_name: str, raw: Store
) -> None:
    """The snapshot holds ACCESS SHARE locks, so a DROP TABLE issued during the copy waits
    for it instead of making the table's copy fail half-way."""
    init_demo(pg_dsn, scale=0.05)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE doomed (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO doomed SELECT g, 'row ' || g FROM generate_series(1, 50) g")
    dropper_done = threading.Event()
    drop_errors: list[BaseException] = []
    waited: list[bool] = []

    def drop() -> None:
        try:
            with psycopg.connect(pg_dsn, autocommit=True) as conn:
                # bounded: were the copy to wait behind this DROP, the test fails, not hangs
                conn.execute("SET lock_timeout = '30s'")
                conn.execute("DROP TABLE doomed")
        except BaseException as exc:
            drop_errors.append(exc)
        finally:
            dropper_done.set()

    dropper = threading.Thread(target=drop)

    def progress(table: str, rows: int, size: int) -> None:
        if dropper.is_alive() or dropper_done.is_set():
            return
        dropper.start()
        deadline = time.monotonic() + 10
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            while time.monotonic() < deadline and not dropper_done.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE query = 'DROP TABLE doomed' AND wait_event_type = 'Lock'"
                ).fetchone()
                if row and row[0]:
                    waited.append(True)
                    return
                time.sleep(0.05)

    result = snapshot(
        pg_dsn,
        raw,
        SnapshotOptions(slot=slot_name, chunk_pages=1, workers=1),
        progress=progress,
    )
    dropper.join(timeout=30)
    assert not drop_errors, drop_errors
    assert waited == [True], "the DROP did not wait for the snapshot's lock"
    assert result.rows["public.doomed"] == 50
    manifests = [k for k in raw.list_keys("public.doomed") if k.endswith(layout.SNAPSHOT_MANIFEST)]
    assert len(manifests) == 1
    with psycopg.connect(pg_dsn) as conn:
        gone = conn.execute("SELECT to_regclass('public.doomed') IS NULL").fetchone()
    assert gone == (True,)
