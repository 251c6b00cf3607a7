"""Shared fixtures: a real Postgres with wal2json, its databases, and an S3 server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from tests.harness import PgServer, S3Server, moto_server, postgres_server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the whole run (see tests/harness.py for where it comes from)."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> Iterator[str]:
    """A fresh database of this test's own; dropped with its slots afterwards."""
    name = pg_server.create_database("src")
    yield pg_server.dsn(name)
    pg_server.drop_database(name)


@pytest.fixture
def pg_warehouse_dsn(pg_server: PgServer) -> Iterator[str]:
    """A second fresh database on the same server, for PostgreSQL-warehouse tests."""
    name = pg_server.create_database("wh")
    yield pg_server.dsn(name)
    pg_server.drop_database(name)


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each warehouse in turn: a DuckDB file in the test's folder, then a PostgreSQL database."""
    if request.param == "duckdb":
        return str(tmp_path / "warehouse.duckdb")
    dsn: str = request.getfixturevalue("pg_warehouse_dsn")
    return dsn


@pytest.fixture
def slot_name() -> str:
    """A slot name of this test's own."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A moto S3 server over HTTP; the AWS environment points at it for the session."""
    with moto_server() as server:
        saved = {k: os.environ.get(k) for k in server.env()}
        os.environ.update(server.env())
        try:
            yield server
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@dataclass
class S3Location:
    """A fresh bucket (and prefix) on the S3 server."""

    endpoint_url: str
    bucket: str

    def uri(self, prefix: str = "") -> str:
        return f"s3://{self.bucket}/{prefix}".rstrip("/")


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> S3Location:
    """A new bucket of this test's own."""
    bucket = f"pgcdc-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server.endpoint_url).create_bucket(Bucket=bucket)
    return S3Location(s3_server.endpoint_url, bucket)
