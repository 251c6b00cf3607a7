"""Connection failures become one clean line that never holds the password or the DSN."""

from __future__ import annotations

import pytest

from pgcdc.cdc_reader.preflight import CheckResult, Status, capture_is_safe, run_checks
from pgcdc.cdc_reader.source import connection_reason as _clean_reason
from pgcdc.cdc_reader.source import describe_target as _describe_target
from pgcdc.schemas.tables import TableFilter

pytestmark = pytest.mark.unit


def test_reason_is_the_server_cause_on_one_line() -> None:
    text = (
        'connection failed: connection to server at "127.0.0.1", port 1 failed: '
        "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
        "connections?"
    )
    assert _clean_reason(text) == "Connection refused"
    fatal = (
        'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
        'FATAL:  password authentication failed for user "app"'
    )
    assert _clean_reason(fatal) == 'password authentication failed for user "app"'


def test_reason_of_several_attempts_is_the_last_one() -> None:
    text = (
        "connection failed: timeout expired\n"
        "Multiple connection attempts failed. All failures were:\n"
        "- host: 'a', port: '5432', hostaddr: '10.0.0.1': connection failed: Connection refused\n"
        "- host: 'b', port: '5432', hostaddr: '10.0.0.2': connection failed: timeout expired"
    )
    assert _clean_reason(text) == "timeout expired"


def test_reason_masks_secrets_and_keeps_messages_without_a_cause() -> None:
    assert _clean_reason("failed to resolve host 'h': [Errno -2] Name or service not known") == (
        "failed to resolve host 'h': [Errno -2] Name or service not known"
    )
    assert _clean_reason("failed: FATAL: bad token s3cr3t here", secrets=["s3cr3t"]) == (
        "bad token *** here"
    )
    assert _clean_reason("") == "unknown error"


def test_target_names_user_host_port_db_and_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE"):
        monkeypatch.delenv(var, raising=False)
    uri = "postgresql://app:s3cr3t@db.example.com:6543/shop?sslmode=require"
    assert _describe_target(uri) == "app@db.example.com:6543/shop"
    keywords = "host=db.example.com user=app password=s3cr3t"
    assert _describe_target(keywords) == "app@db.example.com:5432/app"


def test_target_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "envhost")
    monkeypatch.setenv("PGUSER", "envuser")
    monkeypatch.setenv("PGDATABASE", "envdb")
    monkeypatch.setenv("PGPORT", "7777")
    assert _describe_target("") == "envuser@envhost:7777/envdb"


def test_capture_is_safe_only_without_failures() -> None:
    ok = CheckResult("wal_level", Status.OK, "wal_level = logical", None)
    warn = CheckResult("max_slot_wal_keep_size", Status.WARN, "unlimited", "set it")
    fail = CheckResult("slot", Status.FAIL, "wrong plugin", "drop it")
    assert capture_is_safe([ok, warn])
    assert not capture_is_safe([ok, warn, fail])


def test_unparsable_dsn_is_not_echoed() -> None:
    dsn = "host=localhost password=hunter2-secret bogus_option=1"
    (check,) = run_checks(dsn, slot="pgcdc", table_filter=TableFilter())
    assert (check.name, check.status) == ("connection", Status.FAIL)
    assert "cannot be parsed" in check.message
    assert "hunter2" not in check.message and "hunter2" not in (check.fix or "")
