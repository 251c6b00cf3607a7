"""Bad setups: one clear ERROR line, a non-zero exit, and nothing already captured is lost."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgcdc.devtools.localpg import LocalCluster, bindir
from pgcdc.schemas.tables import TableName
from pgcdc.storage import Store
from tests.harness import extra_cluster
from tests.integration.capture_support import (
    assert_lake_equals_source,
    make_store,
    pgcdc,
    settings_env,
)
from tests.lake import reconstruct

pytestmark = pytest.mark.integration


@pytest.fixture(params=["local", "s3"])
def raw(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return make_store(request, tmp_path, request.param)


def captured_once(dsn: str, raw: Store, slot: str) -> list[str]:
    """A first, successful capture of a small table; returns the raw store's keys."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (id int PRIMARY KEY, v text)")
        created = pgcdc("capture", env=settings_env(dsn, raw, slot))  # creates the slot
        assert created.returncode == 0, created.stderr
        conn.execute("INSERT INTO kept SELECT g, 'v' || g FROM generate_series(1, 20) g")
    done = pgcdc("capture", env=settings_env(dsn, raw, slot))
    assert done.returncode == 0, done.stderr
    keys = raw.list_keys()
    assert any(k.startswith("public.kept/") for k in keys)
    return keys


def error_lines(stderr: str) -> list[dict[str, object]]:
    """The JSON log lines at ERROR level."""
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line["level"] == "ERROR"]


def fails_with(run: subprocess.CompletedProcess[str], *phrases: str) -> str:
    """Assert a non-zero exit with exactly one ERROR line holding ``phrases``; return it."""
    assert run.returncode != 0, run.stderr
    errors = error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    message = str(errors[0]["message"])
    for phrase in phrases:
        assert phrase in message, message
    return message


def with_password(dsn: str, password: str) -> str:
    info = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    info["password"] = password
    return make_conninfo(**info)


def test_wrong_password(pg_dsn: str, slot_name: str, raw: Store) -> None:
    before = captured_once(pg_dsn, raw, slot_name)
    bad = "not-the-Passw0rd"
    run = pgcdc("capture", env=settings_env(with_password(pg_dsn, bad), raw, slot_name))
    fails_with(run, "password authentication failed")
    assert bad not in run.stdout + run.stderr
    assert raw.list_keys() == before


def test_slot_held_by_another_process(pg_dsn: str, slot_name: str, raw: Store) -> None:
    before = captured_once(pg_dsn, raw, slot_name)
    with holding_slot(pg_dsn, slot_name):
        run = pgcdc("capture", env=settings_env(pg_dsn, raw, slot_name))
    fails_with(run, "in use by process", slot_name)
    assert raw.list_keys() == before
    assert pgcdc("capture", env=settings_env(pg_dsn, raw, slot_name)).returncode == 0
    assert_lake_equals_source(pg_dsn, raw)


def holding_slot(dsn: str, slot: str) -> _Holder:
    return _Holder(dsn, slot)


class _Holder:
    """pg_recvlogical streaming from the slot: the slot is active under its pid."""

    def __init__(self, dsn: str, slot: str) -> None:
        self.dsn, self.slot = dsn, slot
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> None:
        info = conninfo_to_dict(self.dsn)
        args = [str(bindir() / "pg_recvlogical"), "--start", "-f", "/dev/null", "-S", self.slot]
        args += ["-h", str(info["host"]), "-p", str(info["port"]), "-U", str(info["user"])]
        args += ["-d", str(info["dbname"]), "-o", "format-version=2"]
        env = {**os.environ, "PGPASSWORD": str(info["password"])}
        self.proc = subprocess.Popen(args, env=env)
        deadline = time.monotonic() + 20
        with psycopg.connect(self.dsn) as conn:
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (self.slot,)
                ).fetchone()
                if row and row[0]:
                    return
                time.sleep(0.1)
        raise AssertionError("pg_recvlogical did not take the slot")

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(timeout=10)


def test_table_without_key_or_full_identity(pg_dsn: str, slot_name: str, raw: Store) -> None:
    before = captured_once(pg_dsn, raw, slot_name)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE audit_log (at timestamptz, what text)")
        conn.execute("INSERT INTO kept VALUES (100, 'pending before the failure')")
    run = pgcdc("capture", env=settings_env(pg_dsn, raw, slot_name))
    fails_with(run, "public.audit_log", "REPLICA IDENTITY FULL")
    assert raw.list_keys() == before
    env = settings_env(pg_dsn, raw, slot_name, PGCDC_EXCLUDE_TABLES="public.audit_log")
    assert pgcdc("capture", env=env).returncode == 0
    assert (100, "pending before the failure") in reconstruct(
        raw, TableName("public", "kept"), ["id"]
    )


def test_captured_table_dropped_mid_stream(pg_dsn: str, slot_name: str, raw: Store) -> None:
    captured_once(pg_dsn, raw, slot_name)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("UPDATE kept SET v = 'changed before the drop' WHERE id <= 5")
        conn.execute("DELETE FROM kept WHERE id > 15")
        last_state = sorted(conn.execute("SELECT * FROM kept").fetchall(), key=repr)
        conn.execute("DROP TABLE kept")
        conn.execute("CREATE TABLE other (id int PRIMARY KEY)")
        conn.execute("INSERT INTO other VALUES (1)")
    run = pgcdc("capture", env=settings_env(pg_dsn, raw, slot_name))
    fails_with(run, "public.kept", "no longer exist")
    assert reconstruct(raw, TableName("public", "kept"), ["id"]) == last_state
    assert reconstruct(raw, TableName("public", "other"), ["id"]) == [(1,)]
    again = pgcdc("capture", env=settings_env(pg_dsn, raw, slot_name))
    assert again.returncode == 0, again.stderr


@pytest.fixture(scope="module")
def replica_level() -> Iterator[LocalCluster]:
    with extra_cluster({"wal_level": "replica"}) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def no_wal2json() -> Iterator[LocalCluster]:
    with extra_cluster({"dynamic_library_path": "'/nonexistent'"}) as cluster:
        yield cluster


def test_wal_level_not_logical(replica_level: LocalCluster, raw: Store) -> None:
    run = pgcdc("capture", env=settings_env(replica_level.dsn(), raw, "pgcdc"))
    fails_with(run, "wal_level")
    assert raw.list_keys() == []


def test_wal2json_missing(no_wal2json: LocalCluster, raw: Store) -> None:
    run = pgcdc("capture", env=settings_env(no_wal2json.dsn(), raw, "pgcdc"))
    fails_with(run, "wal2json", "apt-get install")
    assert raw.list_keys() == []
