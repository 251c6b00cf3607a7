"""Shared fixtures: a real Postgres with wal2json, its databases, and an S3 server.

Also the rule that keeps ``make test-unit`` (``pytest -m unit``) complete and service-free:

* every test is of one kind, ``unit``, ``integration`` or ``e2e``; a test marked with none
  gets one from its fixtures: ``integration`` when it uses a service fixture
  (:data:`SERVICE_FIXTURES`, directly or through other fixtures), ``unit`` otherwise;
* a test marked ``unit`` that uses a service fixture, or marked with two kinds, stops the
  collection with an error naming it;
* while a ``unit`` test runs, asking for a service fixture at run time
  (``request.getfixturevalue``) or starting a PostgreSQL cluster fails it.

A test that reaches a service another way (its own cluster through ``extra_cluster``, an
external tool such as terraform or checkov) says so with ``integration`` or ``e2e``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipeline.localpg import LocalCluster
from tests.harness import PgServer, S3Server, moto_server, postgres_server

pytest_plugins = ("pytester",)  # tests/unit/test_markers.py runs pytest on sample tests

KINDS = ("unit", "integration", "e2e")
SERVICE_FIXTURES = frozenset(
    {
        # a fixture built on one of these needs the service too (pytest's fixture closure
        # holds it); the others are listed for tests that ask for them at run time
        "pg_server",
        "pg_dsn",
        "pg_warehouse_dsn",
        "warehouse_uri",  # asks for pg_warehouse_dsn at run time for its postgres param
        "s3_server",
        "s3_bucket",
        "sfn_endpoint",
        "terraform",
    }
)


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the kinds given here
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every unmarked test its kind; refuse a unit test that uses a service."""
    wrong = []
    for item in items:
        kinds = {m.name for m in item.iter_markers() if m.name in KINDS}
        services = sorted(SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())))
        if len(kinds) > 1:
            wrong.append(f"{item.nodeid}: marked {' and '.join(sorted(kinds))}; pick one")
        elif "unit" in kinds and services:
            wrong.append(f"{item.nodeid}: marked unit but uses {', '.join(services)}")
        elif not kinds:
            item.add_marker("integration" if services else "unit")
    if wrong:
        raise pytest.UsageError("tests of the wrong kind:\n  " + "\n  ".join(wrong))


_running_unit: list[str] = []  # node id of the unit test being run (a stack: pytester nests)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[Any]:
    """While a unit test runs (set-up and tear-down included), services are refused."""
    unit = item.get_closest_marker("unit") is not None
    if unit:
        _running_unit.append(item.nodeid)
    try:
        with pytest.MonkeyPatch.context() as patch:
            if unit:
                patch.setattr(LocalCluster, "ensure_running", _refuse_cluster)
            return (yield)
    finally:
        if unit:
            _running_unit.pop()


def _refuse_cluster(self: LocalCluster) -> LocalCluster:
    pytest.fail(f"unit test {_running_unit[-1]} starts a PostgreSQL cluster: mark it integration")


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> None:
    """A unit test asking for a service fixture at run time fails at once."""
    if _running_unit and fixturedef.argname in SERVICE_FIXTURES:
        pytest.fail(
            f"unit test {_running_unit[-1]} uses the service fixture {fixturedef.argname}: "
            "mark it integration"
        )


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
