"""Real services for the tests: a PostgreSQL cluster with wal2json and an S3 server.

PostgreSQL comes from, in order: ``PGCDC_TEST_DSN`` (a superuser DSN of a cluster with
``wal_level=logical``); testcontainers when a Docker engine answers; the local server
binaries (``pg_config --bindir``), as a throwaway cluster in a temporary folder.
The S3 server is moto in server mode, a real HTTP endpoint on a free loopback port, so
pyarrow, DuckDB, boto3 and Terraform all reach it like AWS.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pipeline.localpg import LocalCluster, bindir, free_port, wal2json_installed
from schemas.errors import ConfigurationError

WAL2JSON_HINT = (
    "wal2json is not available to the test PostgreSQL server: install it with "
    "`apt-get install postgresql-15-wal2json` (Debian/Ubuntu, match your server version), "
    "or point PGCDC_TEST_DSN at a server that has it"
)


@dataclass
class PgServer:
    """A running server the tests may create databases and slots in."""

    admin_dsn: str

    def dsn(self, dbname: str) -> str:
        """The admin DSN pointed at another database."""
        info = psycopg.conninfo.conninfo_to_dict(self.admin_dsn)
        info["dbname"] = dbname
        return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items()})

    def create_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; returns its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database and every replication slot in it."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            for (slot,) in conn.execute(
                "SELECT slot_name FROM pg_replication_slots WHERE database = %s", (name,)
            ).fetchall():
                with contextlib.suppress(psycopg.errors.ObjectInUse):
                    conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def check_logical_decoding(self) -> None:
        """Fail with an actionable message when the server cannot decode with wal2json."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            level = conn.execute("SHOW wal_level").fetchone()
            assert level is not None
            if level[0] != "logical":
                raise RuntimeError(f"test server has wal_level={level[0]}; it must be logical")
            slot = f"probe_{uuid.uuid4().hex[:8]}"
            try:
                conn.execute(
                    "SELECT pg_create_logical_replication_slot(%s, 'wal2json', true)", (slot,)
                )
            except psycopg.errors.UndefinedFile as exc:
                raise RuntimeError(WAL2JSON_HINT) from exc
            except psycopg.errors.InsufficientPrivilege as exc:
                raise RuntimeError(
                    "the test server does not allow wal2json as an output plugin: add it to "
                    f"output_plugin_libraries and reload ({exc.diag.message_primary})"
                ) from exc


def docker_available() -> bool:
    """Whether a Docker engine answers (the client alone is not enough)."""
    if not shutil.which("docker"):
        return False
    result = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=20)
    return result.returncode == 0


@contextlib.contextmanager
def postgres_server() -> Iterator[PgServer]:
    """Yield a server by the harness's order of preference; clean up afterwards."""
    env_dsn = os.environ.get("PGCDC_TEST_DSN")
    if env_dsn:
        server = PgServer(env_dsn)
        server.check_logical_decoding()
        yield server
        return
    if os.environ.get("PGCDC_TEST_DOCKER", "auto") != "never" and docker_available():
        with _container_server() as server:
            yield server
        return
    if not wal2json_installed():
        raise RuntimeError(WAL2JSON_HINT)
    parent = Path(tempfile.mkdtemp(prefix="pgcdc-test-"))
    parent.chmod(0o711)
    cluster = LocalCluster(parent / "pg")
    try:
        cluster.ensure_running()
        server = PgServer(cluster.dsn())
        server.check_logical_decoding()
        yield server
    finally:
        cluster.stop()
        shutil.rmtree(parent, ignore_errors=False)


@contextlib.contextmanager
def _container_server() -> Iterator[PgServer]:
    from testcontainers.postgres import PostgresContainer

    image = os.environ.get("PGCDC_TEST_PG_IMAGE", "quay.io/debezium/postgres:15")
    container = PostgresContainer(image, driver=None).with_command(
        "postgres -c wal_level=logical -c max_replication_slots=40 -c max_wal_senders=40"
    )
    with container:
        server = PgServer(container.get_connection_url())
        server.check_logical_decoding()
        yield server


@dataclass
class S3Server:
    """A moto server over HTTP."""

    endpoint_url: str

    def env(self) -> dict[str, str]:
        """The environment a client needs to talk to it."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # moto accepts any credentials
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }


@contextlib.contextmanager
def moto_server() -> Iterator[S3Server]:
    """Run ``moto.server`` in its own process on a free loopback port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield S3Server(url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def extra_cluster(settings: dict[str, str]) -> Iterator[LocalCluster]:
    """A throwaway cluster with ``settings``; skips when no local server binaries exist."""
    try:
        bindir()
    except ConfigurationError as exc:
        pytest.skip(f"cannot start a cluster of our own: {exc}")
    if not wal2json_installed():
        pytest.skip("cannot start a cluster of our own: wal2json is not installed locally")
    parent = Path(tempfile.mkdtemp(prefix="pgcdc-cluster-"))
    parent.chmod(0o711)
    cluster = LocalCluster(parent / "pg", settings=settings)
    try:
        yield cluster.ensure_running()
    finally:
        cluster.stop()
        shutil.rmtree(parent)
