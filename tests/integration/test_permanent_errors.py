"""Permanent problems fail at once; an unreachable source is retried briefly, and says so.

Through the command line in a process of its own, against the real test server:

- a raw store whose path cannot be written (``/proc/…``: cannot be created; ``/sys/…``: not
  permitted; a path below a file) makes ``pgcdc capture`` and ``pgcdc snapshot`` exit 1 (not
  75, the "try again" code) after one attempt, with one ERROR line naming the raw store and
  the path, and no line about a retry or a lost connection;
- a closed port makes ``pgcdc capture`` log one WARNING per wait naming ``host:port`` (never
  the password), within the documented bound (:data:`pgcdc.pipeline.service.UNREACHABLE_ATTEMPTS`:
  3 tries, waits of 1 s and 2 s), then one ERROR line and exit 75;
- an unknown host name and a database that does not exist fail at once with exit 1 (a wrong
  password is tests/integration/test_capture_errors.py's).

The number of attempts is read from the log lines, never from the clock.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.integration.capture_support import pgcdc

pytestmark = pytest.mark.integration

SECRET = "Hunter2-never-logged"
EXIT_TRANSIENT = 75
RETRY_WORDS = re.compile(r"retry|retrying|trying again|lost its connection", re.IGNORECASE)


def log_lines(run: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The JSON log lines a run wrote to stderr."""
    return [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]


def at_level(run: subprocess.CompletedProcess[str], level: str) -> list[str]:
    return [str(line["message"]) for line in log_lines(run) if line["level"] == level]


def env_for(dsn: str, raw_uri: str, slot: str) -> dict[str, str]:
    return {"PGCDC_SOURCE_DSN": dsn, "PGCDC_RAW_URI": raw_uri, "PGCDC_SLOT": slot}


def with_conninfo(dsn: str, **changes: str) -> str:
    info = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    return make_conninfo(**{**info, **changes})


def a_table(dsn: str) -> None:
    """A small table, so that a capture or a snapshot has something to write."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO kept SELECT g, 'v' || g FROM generate_series(1, 50) g")


def unwritable(kind: str, tmp_path: Path) -> tuple[str, str]:
    """A raw store URI that cannot be written, and the path its ERROR line must name."""
    if kind == "under-a-file":
        (tmp_path / "file").write_text("a file where the store's folder would go")
        return str(tmp_path / "file" / "raw"), str(tmp_path / "file")
    path = f"/{kind}/pgcdc-nope"
    return path, path


def fails_at_once(run: subprocess.CompletedProcess[str], path: str) -> str:
    """Exit 1 (terminal), one ERROR line naming the raw store and ``path``, no retry."""
    errors = at_level(run, "ERROR")
    assert len(errors) == 1, run.stderr
    assert run.returncode == 1, run.stderr
    assert "raw store" in errors[0] and path in errors[0], errors[0]
    assert not re.search("lost its connection|trying again", errors[0]), errors[0]
    before = [line for line in log_lines(run) if line["level"] != "ERROR"]
    assert [line for line in before if RETRY_WORDS.search(str(line["message"]))] == [], run.stderr
    error = next(line for line in log_lines(run) if line["level"] == "ERROR")
    assert error["error_type"] == "StorageDeniedError", error
    return errors[0]


@pytest.mark.parametrize("kind", ["proc", "under-a-file"])
def test_capture_into_an_unwritable_raw_store_fails_at_once(
    pg_dsn: str, slot_name: str, tmp_path: Path, kind: str
) -> None:
    a_table(pg_dsn)
    uri, path = unwritable(kind, tmp_path)
    run = pgcdc("capture", "--log-format", "json", env=env_for(pg_dsn, uri, slot_name))
    fails_at_once(run, path)


@pytest.mark.parametrize("kind", ["proc", "sys"])
def test_snapshot_into_an_unwritable_raw_store_fails_at_once(
    pg_dsn: str, slot_name: str, tmp_path: Path, kind: str
) -> None:
    a_table(pg_dsn)
    uri, path = unwritable(kind, tmp_path)
    run = pgcdc("snapshot", "--log-format", "json", env=env_for(pg_dsn, uri, slot_name))
    message = fails_at_once(run, path)
    assert "connection" not in message, message
    with psycopg.connect(pg_dsn, autocommit=True) as conn:  # and no slot pins WAL after it
        slots = conn.execute(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (slot_name,)
        ).fetchone()
    assert slots == (0,)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_capture_from_a_closed_port_waits_briefly_and_says_so(
    pg_dsn: str, slot_name: str, tmp_path: Path
) -> None:
    port = closed_port()
    dsn = with_conninfo(pg_dsn, host="127.0.0.1", port=str(port), password=SECRET)
    run = pgcdc("capture", "--log-format", "json", env=env_for(dsn, str(tmp_path), slot_name))
    assert run.returncode == EXIT_TRANSIENT, run.stderr
    assert SECRET not in run.stdout + run.stderr
    waits = [m for m in at_level(run, "WARNING") if "trying again" in m]
    assert 1 <= len(waits) <= 2, run.stderr  # the documented bound: 3 tries
    seconds = 0.0
    for number, message in enumerate(waits, start=1):
        assert f"attempt {number} of {len(waits) + 1} " in message, message
        assert f"127.0.0.1:{port}" in message and "refused" in message.lower(), message
        found = re.search(r"trying again in (\d+(?:\.\d+)?) s", message)
        assert found is not None, message
        seconds += float(found.group(1))
    assert seconds <= 3, waits  # the documented bound: waits of 1 s and 2 s
    errors = at_level(run, "ERROR")
    assert len(errors) == 1 and f"127.0.0.1:{port}" in errors[0], run.stderr


@pytest.mark.parametrize("problem", ["unknown host", "unknown database"])
def test_unknown_host_or_database_fails_at_once(
    pg_dsn: str, slot_name: str, tmp_path: Path, problem: str
) -> None:
    secret = str(conninfo_to_dict(pg_dsn).get("password") or SECRET)
    if problem == "unknown host":
        dsn = with_conninfo(pg_dsn, host="pgcdc-no-such-host.invalid", password=secret)
        named = "pgcdc-no-such-host.invalid"
    else:  # the right password, so that the server gets to say the database is missing
        dsn = with_conninfo(pg_dsn, dbname="pgcdc_no_such_db", password=secret)
        named = "pgcdc_no_such_db"
    run = pgcdc("capture", "--log-format", "json", env=env_for(dsn, str(tmp_path), slot_name))
    assert run.returncode == 1, run.stderr
    errors = at_level(run, "ERROR")
    assert len(errors) == 1 and named in errors[0], run.stderr
    assert [m for m in at_level(run, "WARNING") if RETRY_WORDS.search(m)] == [], run.stderr
    assert secret not in run.stdout + run.stderr
