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
import re
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

from pgcdc.devtools.localpg import LocalCluster, bindir, wal2json_installed
from pgcdc.schemas.errors import ConfigurationError

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
                # in use: dropped with the database below; gone: a temporary slot whose
                # session ended between the listing and here
                with contextlib.suppress(
                    psycopg.errors.ObjectInUse, psycopg.errors.UndefinedObject
                ):
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
    with local_cluster("pgcdc-test-", {}) as cluster:
        server = PgServer(cluster.dsn())
        server.check_logical_decoding()
        yield server


PORT_ATTEMPTS = 3
"""Clusters created in turn when the port picked for one was taken before it could bind it."""


@contextlib.contextmanager
def local_cluster(prefix: str, settings: dict[str, str]) -> Iterator[LocalCluster]:
    """A running throwaway cluster in a new temporary folder; stopped and removed afterwards.

    The port is picked free (free_port) but only bound when the server starts: in between,
    another process (another xdist worker's server, a client's outgoing connection) may take
    it. The server then cannot listen, and a new cluster on a new free port is made.
    """
    for attempt in range(1, PORT_ATTEMPTS + 1):
        parent = Path(tempfile.mkdtemp(prefix=prefix))
        parent.chmod(0o711)  # the postgres user must reach pg/ (we may be root)
        cluster = LocalCluster(parent / "pg", settings=settings)
        try:
            cluster.ensure_running()
        except ConfigurationError as exc:
            shutil.rmtree(parent)
            if attempt < PORT_ATTEMPTS and "Address already in use" in str(exc):
                continue
            raise
        try:
            yield cluster
        finally:
            cluster.stop()
            shutil.rmtree(parent)
        return


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
    """Run ``moto.server`` in its own process on a loopback port the kernel picks.

    Port 0, then the port read from the server's startup line: a port picked beforehand
    (free_port) could be taken by another worker's server in between, and the wait below
    would then reach that server instead of ours.
    """
    with tempfile.TemporaryDirectory(prefix="pgcdc-moto-") as folder:
        log_path = Path(folder) / "moto.log"  # a file, not a pipe: moto logs every request
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            yield S3Server(_wait_for_moto(proc, log_path))
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _wait_for_moto(proc: subprocess.Popen[bytes], log_path: Path) -> str:
    """The URL of the started moto server, once it answers."""
    deadline = time.monotonic() + 60  # slow on a busy machine: every worker starts one
    while True:
        found = re.search(
            r"Running on (http://127\.0\.0\.1:\d+)", log_path.read_text("utf-8", "replace")
        )
        if found:
            try:
                with urllib.request.urlopen(f"{found[1]}/moto-api/", timeout=1):  # noqa: S310
                    return found[1]
            except OSError:
                pass
        if time.monotonic() > deadline or proc.poll() is not None:
            tail = log_path.read_text("utf-8", "replace")[-2000:]
            raise RuntimeError(f"moto server did not start:\n{tail}")
        time.sleep(0.1)


@contextlib.contextmanager
def extra_cluster(settings: dict[str, str]) -> Iterator[LocalCluster]:
    """A throwaway cluster with ``settings``; skips when no local server binaries exist."""
    try:
        bindir()
    except ConfigurationError as exc:
        pytest.skip(f"cannot start a cluster of our own: {exc}")
    if not wal2json_installed():
        pytest.skip("cannot start a cluster of our own: wal2json is not installed locally")
    with local_cluster("pgcdc-cluster-", settings) as cluster:
        yield cluster
