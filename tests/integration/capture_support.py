"""Shared pieces of the capture tests: stores on both backends, the demo tables, comparisons."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgcdc.schemas.tables import TableName
from pgcdc.storage import Store, open_store
from tests.conftest import S3Location
from tests.lake import reconstruct, source_rows

DEMO_TABLES = (
    "address",
    "counterparty",
    "currency",
    "department",
    "design",
    "staff",
    "sales_order",
    "purchase_order",
    "payment_type",
    "transaction",
    "payment",
)


def make_store(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Store:
    """A fresh raw store on the local disk or on the S3 server."""
    if backend == "local":
        return open_store(str(tmp_path / "raw"))
    s3: S3Location = request.getfixturevalue("s3_bucket")
    return open_store(s3.uri("raw"), endpoint_url=s3.endpoint_url)


def primary_keys(conn: psycopg.Connection[Any]) -> dict[TableName, list[str]]:
    """Every user table's primary-key columns (all columns for tables without one)."""
    rows = conn.execute(
        """
        SELECT n.nspname, c.relname,
               coalesce((SELECT array_agg(a.attname ORDER BY a.attnum)
                         FROM pg_index i JOIN pg_attribute a
                           ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                         WHERE i.indrelid = c.oid AND i.indisprimary),
                        (SELECT array_agg(a.attname ORDER BY a.attnum) FROM pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_%'
        """
    ).fetchall()
    return {TableName(r[0], r[1]): list(r[2]) for r in rows}


def assert_lake_equals_source(dsn: str, raw: Store) -> dict[TableName, int]:
    """Reconstruct every source table from the raw store and compare value for value."""
    counts = {}
    with psycopg.connect(dsn) as conn:
        for table, key in primary_keys(conn).items():
            expected = source_rows(conn, table)
            actual = reconstruct(raw, table, key)
            assert len(actual) == len(expected), f"{table}: row count"
            for got, want in zip(actual, expected, strict=True):
                assert got == want, f"{table}: {got!r} != {want!r}"
            counts[table] = len(expected)
    return counts


# The log format the helpers ask for: the tests read the JSON log lines on stderr.
JSON_LOGS = {"PGCDC_LOG_FORMAT": "json"}


def pgcdc(
    *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the pgcdc command line in a process of its own, logging JSON lines (what the
    tests read) unless ``env`` says otherwise."""
    return subprocess.run(
        [sys.executable, "-m", "pgcdc.pipeline.cli", *args],
        env={**os.environ, **JSON_LOGS, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def settings_env(dsn: str, raw: Store, slot: str, **extra: str) -> dict[str, str]:
    """The environment that points pgcdc at a source, a raw store and a slot."""
    env = {
        "PGCDC_SOURCE_DSN": dsn,
        "PGCDC_RAW_URI": raw.uri,
        "PGCDC_SLOT": slot,
    }
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not raw.is_local and endpoint:
        env["PGCDC_S3_ENDPOINT_URL"] = endpoint
    env.update(extra)
    return env


class Following:
    """``pgcdc capture --follow`` in the background; stopped with SIGTERM on exit.

    After the block, ``returncode`` and ``stderr`` (the JSON log lines) are set.
    """

    def __init__(self, env: dict[str, str], flush_every: float) -> None:
        self.args = ["capture", "--follow", "--flush-every", str(flush_every)]
        self.env = env
        self.returncode: int | None = None
        self.stderr = ""

    def __enter__(self) -> Following:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pgcdc.pipeline.cli", *self.args],
            env={**os.environ, **JSON_LOGS, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        _, self.stderr = self.proc.communicate(timeout=60)
        self.returncode = self.proc.returncode
        if isinstance(error, BaseException):  # a failing check shows what the process said
            error.add_note(f"pgcdc {' '.join(self.args)} logged:\n{self.stderr[-4000:]}")
