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

Under pytest-xdist (``make test`` runs ``-n N --dist loadgroup``) every worker is its own
process with its own session fixtures: its own PostgreSQL cluster and moto server on free
ports, so databases, slots and buckets never meet another worker's. Tests that share a costly
fixture are kept on one worker (:func:`worker_group`), so it is built once, not once per worker.
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

from pgcdc.devtools.localpg import LocalCluster
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


GROUPED_FIXTURES = {
    # fixture → xdist group: the tests using it run on one worker, one after the other
    "terraform": "terraform",  # session: a copy of infra/ and of the 700 MB provider
    "browser_page": "chromium",  # one browser at a time: each also runs the pipeline and a
    # streamlit server, and the page must redraw within the test's waits
}


def worker_group(item: pytest.Item) -> str | None:
    """The xdist group of a test that shares a costly fixture with others, else None.

    A test using a fixture of :data:`GROUPED_FIXTURES` joins that fixture's group; one
    using a module-scoped fixture (an extra cluster, a seeded database, a build) joins its
    module's group, so the fixture is built once and not on each worker that runs the module.
    """
    names = set(getattr(item, "fixturenames", ()))
    for fixture, group in GROUPED_FIXTURES.items():
        if fixture in names:
            return group
    info = getattr(item, "_fixtureinfo", None)  # the fixture closure pytest resolved
    definitions = info.name2fixturedefs if info is not None else {}
    if any(d.scope == "module" for name in names for d in definitions.get(name, ())):
        return item.nodeid.split("::", 1)[0]
    return None


WRONG_KIND = pytest.StashKey[str]()
"""On an xdist worker: why this test is of the wrong kind (its set-up fails with it)."""


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the kinds given here, and before
# xdist's worker reads the xdist_group marks given here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every unmarked test its kind; refuse a unit test that uses a service; put tests
    that share a costly fixture in one xdist group.

    A refusal stops the collection with a usage error. An xdist worker would report that
    error as a crash without its message, so there each refused test fails at set-up
    instead, with the same line, before any fixture (and so any service) is set up.
    """
    wrong = []
    for item in items:
        group = worker_group(item)
        if group is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))
        problem = _kind_problem(item)
        if problem is not None:
            wrong.append(f"{item.nodeid}: {problem}")
            item.stash[WRONG_KIND] = wrong[-1]
    if wrong and not hasattr(config, "workerinput"):  # workerinput: xdist's worker config
        raise pytest.UsageError("tests of the wrong kind:\n  " + "\n  ".join(wrong))


def _kind_problem(item: pytest.Item) -> str | None:
    """What is wrong with the test's kind; gives an unmarked test its kind."""
    kinds = {m.name for m in item.iter_markers() if m.name in KINDS}
    services = sorted(SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    if len(kinds) > 1:
        return f"marked {' and '.join(sorted(kinds))}; pick one"
    if "unit" in kinds and services:
        return f"marked unit but uses {', '.join(services)}"
    if not kinds:
        item.add_marker("integration" if services else "unit")
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest's own set-up of the fixtures
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test refused on an xdist worker fails here (see pytest_collection_modifyitems)."""
    if WRONG_KIND in item.stash:
        pytest.fail(f"test of the wrong kind: {item.stash[WRONG_KIND]}", pytrace=False)


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
