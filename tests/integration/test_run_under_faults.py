"""``pgcdc run`` with a fifth of its S3 requests throttled, failed or reset: it completes, the
warehouse equals the source, and no incomplete multipart upload is left in either bucket."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import psycopg
import pytest

from pgcdc.devtools.demo import init_demo, run_workload
from pgcdc.storage import open_store
from tests.conftest import S3Location
from tests.faultproxy import FAULT_KINDS, FaultPlan, FaultProxy, fault_proxy
from tests.harness import S3Server
from tests.integration.capture_support import DEMO_TABLES, pgcdc
from tests.integration.test_warehouse import assert_warehouse_matches_source
from tests.integration.warehouse_support import Pipeline

pytestmark = pytest.mark.integration

FAULTED = 0.2
MAX_ATTEMPTS = 3


@pytest.fixture
def buckets(s3_server: S3Server) -> tuple[S3Location, S3Location]:
    """Two fresh buckets: one for the raw store, one for the processed store."""
    client = boto3.client("s3", endpoint_url=s3_server.endpoint_url)
    made = []
    for role in ("raw", "processed"):
        name = f"pgcdc-{role}-{uuid.uuid4().hex[:10]}"
        client.create_bucket(Bucket=name)
        made.append(S3Location(s3_server.endpoint_url, name))
    return made[0], made[1]


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[FaultProxy]:
    with fault_proxy(s3_server.endpoint_url) as running:
        yield running


def run_until_done(env: dict[str, str]) -> tuple[int, list[str]]:
    """``pgcdc run`` in a fresh process until it exits 0, at most MAX_ATTEMPTS times; the
    attempts made and each failed attempt's stderr."""
    failures: list[str] = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        done = pgcdc("run", env=env, timeout=240)
        if done.returncode == 0:
            return attempt, failures
        failures.append(f"exit {done.returncode}: {done.stderr[-3000:]}")
    return 0, failures


def incomplete_uploads(s3: S3Location) -> list[str]:
    """Keys of a bucket's incomplete multipart uploads, asked of moto directly."""
    client = boto3.client("s3", endpoint_url=s3.endpoint_url)
    return [u["Key"] for u in client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])]


def test_run_completes_under_faults_and_the_warehouse_equals_the_source(
    pg_dsn: str,
    slot_name: str,
    tmp_path: Path,
    buckets: tuple[S3Location, S3Location],
    proxy: FaultProxy,
) -> None:
    """Seed and workload (inserts, updates, deletes), then ``pgcdc run`` with 20 % of S3
    requests faulted completes within MAX_ATTEMPTS fresh processes; faults of every kind
    were injected; the warehouse equals the source; no incomplete upload is left."""
    raw, processed = buckets
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot_name,))
    init_demo(pg_dsn, scale=0.02)
    run_workload(pg_dsn, rate=0, duration=1.0, seed=7)
    warehouse = str(tmp_path / "warehouse.duckdb")
    env = {
        "PGCDC_SOURCE_DSN": pg_dsn,
        "PGCDC_SLOT": slot_name,
        "PGCDC_RAW_URI": raw.uri("raw"),
        "PGCDC_PROCESSED_URI": processed.uri("processed"),
        "PGCDC_WAREHOUSE_URI": warehouse,
        "PGCDC_S3_ENDPOINT_URL": proxy.endpoint_url,
        "AWS_ENDPOINT_URL": proxy.endpoint_url,
    }
    proxy.set_plan(FaultPlan.uniform(FAULTED, seed=20))
    made, failures = run_until_done(env)
    proxy.set_plan(FaultPlan())

    assert made, "\n".join(failures)
    injected, forwarded = dict(proxy.injected), sum(proxy.forwarded.values())
    assert all(injected.get(kind, 0) > 0 for kind in FAULT_KINDS), injected
    assert sum(injected.values()) > 0.1 * (sum(injected.values()) + forwarded)
    p = Pipeline(
        pg_dsn,
        slot_name,
        open_store(raw.uri("raw"), endpoint_url=raw.endpoint_url),
        open_store(processed.uri("processed"), endpoint_url=processed.endpoint_url),
        warehouse,
    )
    assert_warehouse_matches_source(p)
    for table in DEMO_TABLES:  # and every mirror, row for row, column for column
        want = sorted(p.source(f"SELECT * FROM public.{table}"))
        got = sorted(p.sql(f'SELECT * FROM "mirror_public"."{table}"'))
        assert got == want, table
    assert incomplete_uploads(raw) == []
    assert incomplete_uploads(processed) == []
