"""`pgcdc check` as a person runs it: FAIL (exit 1) when the table filter matches nothing and
when the raw store cannot be written, which it finds by writing, reading back and deleting a
probe object through the store (a local folder or S3 on the moto server)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import psycopg
import pytest

from tests.conftest import S3Location

pytestmark = pytest.mark.integration


def check(dsn: str, slot: str, raw_uri: str, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGCDC_")}
    env.update(PGCDC_SOURCE_DSN=dsn, PGCDC_SLOT=slot, PGCDC_RAW_URI=raw_uri)
    if raw_uri.startswith("s3://"):
        env["PGCDC_S3_ENDPOINT_URL"] = os.environ["AWS_ENDPOINT_URL"]
    return subprocess.run(
        [sys.executable, "-m", "pgcdc.pipeline.cli", "check", *flags],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def line_of(run: subprocess.CompletedProcess[str], name: str) -> str:
    """The one line of check ``name``."""
    found = [line for line in run.stdout.splitlines() if f"] {name}: " in line]
    assert len(found) == 1, run.stdout + run.stderr
    return found[0]


@pytest.fixture
def source(pg_dsn: str) -> str:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE item (id int PRIMARY KEY)")
    return pg_dsn


def test_a_filter_matching_no_table_fails(source: str, slot_name: str, tmp_path: Path) -> None:
    run = check(source, slot_name, str(tmp_path / "raw"), "--tables", "sales.*")
    assert run.returncode == 1, run.stdout + run.stderr
    assert line_of(run, "captured_tables").startswith("[FAIL] captured_tables: no table matches")
    assert "PGCDC_TABLES" in run.stdout  # the fix line
    assert run.stdout.rstrip().endswith("capture would be UNSAFE: fix the FAIL lines above")


def test_a_writable_store_passes_and_keeps_no_probe(
    source: str, slot_name: str, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    run = check(source, slot_name, str(raw))
    assert run.returncode == 0, run.stdout + run.stderr
    assert line_of(run, "raw_store") == f"[OK  ] raw_store: the raw store {raw} can be written"
    assert raw.is_dir() and list(raw.iterdir()) == []  # the probe was deleted
    assert run.stdout.rstrip().endswith("capture is safe")


@pytest.mark.parametrize("where", ["proc", "under_a_file"])
def test_an_unwritable_local_store_fails(
    source: str, slot_name: str, tmp_path: Path, where: str
) -> None:
    """/proc refuses new files even to root; a path below a regular file cannot exist."""
    if where == "proc":
        raw = "/proc/pgcdc-nope"
    else:
        (tmp_path / "file").write_text("not a folder")
        raw = str(tmp_path / "file" / "raw")
    run = check(source, slot_name, raw)
    assert run.returncode == 1, run.stdout + run.stderr
    line = line_of(run, "raw_store")
    assert line.startswith(f"[FAIL] raw_store: cannot write to the raw store {raw}: "), line
    assert "PGCDC_RAW_URI" in run.stdout
    assert run.stdout.rstrip().endswith("capture would be UNSAFE: fix the FAIL lines above")


def test_a_missing_bucket_fails_and_a_real_one_passes(
    source: str, slot_name: str, s3_bucket: S3Location
) -> None:
    missing = f"s3://{s3_bucket.bucket}-missing/raw"
    run = check(source, slot_name, missing)
    assert run.returncode == 1, run.stdout + run.stderr
    assert line_of(run, "raw_store").startswith(
        f"[FAIL] raw_store: cannot write to the raw store {missing}: "
    )
    present = s3_bucket.uri("raw")
    good = check(source, slot_name, present)
    assert good.returncode == 0, good.stdout + good.stderr
    assert line_of(good, "raw_store") == f"[OK  ] raw_store: the raw store {present} can be written"
    listed = boto3.client("s3", endpoint_url=s3_bucket.endpoint_url).list_objects_v2(
        Bucket=s3_bucket.bucket
    )
    keys = [o["Key"] for o in listed.get("Contents", [])]
    # the probe was deleted (pyarrow leaves a folder marker where the folder empties)
    assert [k for k in keys if not k.endswith("/")] == [], keys
