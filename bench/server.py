"""The PostgreSQL server a benchmark runs against: ``PGCDC_BENCH_DSN`` or a throwaway one."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

from pgcdc.devtools.localpg import LocalCluster


@contextlib.contextmanager
def bench_database(name: str = "bench") -> Iterator[str]:
    """A fresh database on the benchmark server; yields its DSN, drops it afterwards."""
    env = os.environ.get("PGCDC_BENCH_DSN")
    if env:
        with database(env, name) as dsn:
            yield dsn
        return
    parent = Path(tempfile.mkdtemp(prefix="pgcdc-bench-"))
    parent.chmod(0o711)
    cluster = LocalCluster(parent / "pg")
    try:
        cluster.ensure_running()
        with database(cluster.dsn(), name) as dsn:
            yield dsn
    finally:
        cluster.stop()
        shutil.rmtree(parent)


@contextlib.contextmanager
def database(admin_dsn: str, name: str) -> Iterator[str]:
    """A fresh database ``name`` on the server of ``admin_dsn`` (slots in it dropped after)."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    info["dbname"] = name
    try:
        yield psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items()})
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            for (slot,) in conn.execute(
                "SELECT slot_name FROM pg_replication_slots WHERE database = %s", (name,)
            ).fetchall():
                conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
