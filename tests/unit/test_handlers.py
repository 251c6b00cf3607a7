"""The Lambda handlers' pure parts: time budget, summaries, EMF documents, the error line."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pgcdc.cdc_reader.capture import CaptureResult
from pgcdc.pipeline import config, emf, handlers
from pgcdc.readside.status import SlotStatus
from pgcdc.schemas.errors import ConfigurationError, StorageError
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.processed import Batch
from pgcdc.schemas.settings import redact_uri
from pgcdc.transformer.runner import TransformResult
from pgcdc.warehouse_loader.duckdb_warehouse import DuckDBWarehouse
from pgcdc.warehouse_loader.loader import LoadResult
from tests.unit.lambda_support import FakeContext

# --- time budget --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remaining_ms", "expected"),
    [
        (900_000, 765.0),  # 15 % margin of 900 s
        (120_000, 90.0),  # the 30 s minimum margin
        (60_000, 30.0),  # exactly twice the margin
        (40_000, 20.0),  # less than twice the margin: half of what is left
        (1_000, 1.0),  # never below the minimum budget
        (0, 1.0),
    ],
)
def test_time_budget_leaves_a_margin_before_the_lambda_timeout(
    remaining_ms: int, expected: float
) -> None:
    assert handlers.time_budget(remaining_ms) == expected


def test_time_budget_is_always_shorter_than_the_time_left() -> None:
    for remaining_ms in range(3_000, 900_001, 7_919):
        assert handlers.time_budget(remaining_ms) < remaining_ms / 1000


# --- summaries ----------------------------------------------------------------------------


def test_capture_summary_is_json_and_says_when_more_is_left() -> None:
    result = CaptureResult(
        slot="pgcdc",
        start=Lsn.parse("0/16B3748"),
        position=Lsn.parse("0/16B3800"),
        batches=2,
        files=3,
        rows=10,
        bytes_written=2048,
        changes=Counter({"u": 4, "c": 6}),
        seconds=1.23456,
        stopped_by_budget=True,
        remaining_bytes=4096,
    )
    summary = handlers.capture_summary(result, 765.0)
    assert json.loads(json.dumps(summary)) == summary
    assert summary["start"] == "0/16B3748" and summary["position"] == "0/16B3800"
    assert summary["changes"] == {"c": 6, "u": 4}
    assert summary["more_to_read"] is True
    assert summary["remaining_bytes"] == 4096
    assert summary["time_budget_seconds"] == 765.0
    assert summary["seconds"] == 1.235


def test_capture_summary_nothing_more_to_read() -> None:
    done = handlers.capture_summary(CaptureResult(slot="s"))
    assert done["more_to_read"] is False and done["position"] is None
    drained = handlers.capture_summary(
        CaptureResult(slot="s", stopped_by_budget=True, remaining_bytes=0)
    )
    assert drained["more_to_read"] is False


def test_transform_and_load_summaries() -> None:
    transformed = handlers.transform_summary(
        TransformResult(run=3, changes=5, tables=1, rows={"fact_x": 2, "dim_y": 1}, seconds=0.5)
    )
    assert transformed == {
        "step": "transform",
        "run": 3,
        "changes": 5,
        "tables": 1,
        "rows": {"dim_y": 1, "fact_x": 2},
        "quarantined": 0,
        "seconds": 0.5,
    }
    loaded = handlers.load_summary(LoadResult(batches=2, rows=7, loaded_up_to=3))
    assert json.loads(json.dumps(loaded)) == loaded
    assert (loaded["batches"], loaded["rows"], loaded["loaded_up_to"]) == (2, 7, 3)


# --- EMF ----------------------------------------------------------------------------------


def test_emf_document_shape() -> None:
    doc = emf.document(
        [emf.Metric("SlotLagBytes", 123, "Bytes"), emf.Metric("CaptureAgeSeconds", 4.5, "Seconds")],
        properties={"slot": "pgcdc"},
        metric_namespace="pgcdc",
        timestamp_ms=1_700_000_000_000,
    )
    assert doc == {
        "_aws": {
            "Timestamp": 1_700_000_000_000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "pgcdc",
                    "Dimensions": [[]],
                    "Metrics": [
                        {"Name": "SlotLagBytes", "Unit": "Bytes"},
                        {"Name": "CaptureAgeSeconds", "Unit": "Seconds"},
                    ],
                }
            ],
        },
        "slot": "pgcdc",
        "SlotLagBytes": 123,
        "CaptureAgeSeconds": 4.5,
    }
    # No key the log metric filters match, so a figure is not counted twice.
    assert "level" not in doc and "metric" not in doc


def test_emf_namespace_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(emf.NAMESPACE_ENV, "custom")
    assert emf.document([emf.Metric("X", 1)])["_aws"]["CloudWatchMetrics"][0]["Namespace"] == (
        "custom"
    )
    monkeypatch.delenv(emf.NAMESPACE_ENV)
    assert emf.namespace() == "pgcdc"


def test_emf_emit_prints_one_line_and_nothing_without_metrics() -> None:
    out = io.StringIO()
    assert emf.emit([], stream=out) is None and out.getvalue() == ""
    doc = emf.emit([emf.Metric("SlotLagBytes", 1, "Bytes")], stream=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == doc


def test_emf_refuses_bad_units_and_clashing_names() -> None:
    with pytest.raises(ValueError, match="unit"):
        emf.Metric("X", 1, "Parsecs")
    with pytest.raises(ValueError, match="clash"):
        emf.document([emf.Metric("slot", 1)], properties={"slot": "pgcdc"})


def test_slot_metrics_from_a_status() -> None:
    found = SlotStatus(
        slot="pgcdc",
        exists=True,
        lag_bytes=100,
        retained_wal_bytes=200,
        last_capture_at="2026-01-01T00:00:00+00:00",
    )
    metrics = handlers.slot_metrics(found, now=1_767_225_610.0)  # 10 s later
    assert [(m.name, m.value, m.unit) for m in metrics] == [
        ("SlotLagBytes", 100, "Bytes"),
        ("RetainedWalBytes", 200, "Bytes"),
        ("CaptureAgeSeconds", 10.0, "Seconds"),
    ]
    assert handlers.slot_metrics(SlotStatus(slot="pgcdc", exists=False)) == []


def test_freshness_metric_document_is_what_the_freshness_alarm_reads() -> None:
    metrics = handlers.freshness_metrics(42.5)
    doc = emf.document(
        metrics,
        properties={"execution_id": "e1"},
        metric_namespace="pgcdc",
        timestamp_ms=1_700_000_000_000,
    )
    assert doc == {
        "_aws": {
            "Timestamp": 1_700_000_000_000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "pgcdc",
                    "Dimensions": [[]],
                    "Metrics": [{"Name": "FreshnessSeconds", "Unit": "Seconds"}],
                }
            ],
        },
        "execution_id": "e1",
        "FreshnessSeconds": 42.5,
    }
    assert "level" not in doc and "metric" not in doc  # the log filters do not count it
    # A clock behind the source's never reports a negative age.
    assert [m.value for m in handlers.freshness_metrics(-3.0)] == [0.0]


# --- the load handler's freshness ------------------------------------------------------------

COMMIT_AGE = dt.timedelta(seconds=90)


def _load_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **extra: str
) -> tuple[str, dt.datetime]:
    """A DuckDB warehouse holding one batch whose newest source commit is COMMIT_AGE old,
    and an empty processed store: the load applies nothing, then reports freshness."""
    uri = str(tmp_path / "warehouse.duckdb")
    newest = dt.datetime.now(dt.UTC) - COMMIT_AGE
    warehouse = DuckDBWarehouse(uri)
    try:
        batch = Batch(run=1, bound=100, created_at=newest, newest_commit=newest)
        assert warehouse.apply(batch, [])
    finally:
        warehouse.close()
    env = {
        "PGCDC_SLOT": "pgcdc",
        "PGCDC_PROCESSED_URI": str(tmp_path / "processed"),
        "PGCDC_WAREHOUSE_URI": uri,
        emf.NAMESPACE_ENV: "pgcdc-test",
        **extra,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return uri, newest


def _out_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.usefixtures("restore_logging")
def test_load_prints_freshness_from_the_warehouse_it_loaded(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _load_env(monkeypatch, tmp_path, PGCDC_MAX_FRESHNESS_SECONDS="86400")
    summary = handlers.load_handler({"execution_id": "exec-9"}, FakeContext())
    assert summary["step"] == "load" and summary["batches"] == 0
    printed = capsys.readouterr()
    documents = [d for d in _out_lines(printed.out) if "_aws" in d]
    assert len(documents) == 1, printed.out
    doc = documents[0]
    assert doc["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": "pgcdc-test",
            "Dimensions": [[]],
            "Metrics": [{"Name": "FreshnessSeconds", "Unit": "Seconds"}],
        }
    ]
    # At least as old as the newest commit the batch recorded, measured after it.
    age = doc["FreshnessSeconds"]
    assert isinstance(age, float) and COMMIT_AGE.total_seconds() <= age < 86400
    assert doc["execution_id"] == "exec-9"
    levels = [line["level"] for line in _out_lines(printed.err)]
    assert "ERROR" not in levels and "WARNING" not in levels


@pytest.mark.usefixtures("restore_logging")
def test_load_past_the_freshness_threshold_logs_one_error_and_still_succeeds(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _load_env(monkeypatch, tmp_path, PGCDC_MAX_FRESHNESS_SECONDS="60")
    summary = handlers.load_handler({"execution_id": "exec-9"}, FakeContext())
    assert summary["step"] == "load"
    printed = capsys.readouterr()
    errors = [line for line in _out_lines(printed.err) if line["level"] == "ERROR"]
    assert len(errors) == 1, printed.err
    message = str(errors[0]["message"])
    assert message.startswith("warehouse freshness ") and "under 60 s old" in message
    assert errors[0]["step"] == "load" and "failed_step" not in errors[0]
    assert [d["FreshnessSeconds"] for d in _out_lines(printed.out) if "_aws" in d] == [
        errors[0]["freshness_seconds"]
    ]


@pytest.mark.usefixtures("restore_logging")
def test_load_without_a_recorded_commit_prints_no_freshness(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Nothing loaded yet: no figure (the alarm sees missing data), a WARNING, no ERROR."""
    _load_env(monkeypatch, tmp_path, PGCDC_MAX_FRESHNESS_SECONDS="60")
    monkeypatch.setenv("PGCDC_WAREHOUSE_URI", str(tmp_path / "new.duckdb"))
    handlers.load_handler({"execution_id": "e"}, FakeContext())
    printed = capsys.readouterr()
    assert not [d for d in _out_lines(printed.out) if "_aws" in d]
    levels = [line["level"] for line in _out_lines(printed.err)]
    assert levels.count("WARNING") == 1 and "ERROR" not in levels


@pytest.mark.usefixtures("restore_logging")
def test_freshness_that_cannot_be_read_is_a_warning_not_a_failure(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    broken = tmp_path / "not-a-database.duckdb"
    broken.write_text("this is not a DuckDB file\n")
    settings = config.load_settings(slot="pgcdc", warehouse_uri=str(broken))
    with caplog.at_level(logging.WARNING, logger="pgcdc.handler"):
        assert handlers.report_freshness(settings, {"execution_id": "e"}) is None
    assert "_aws" not in capsys.readouterr().out
    assert [(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records] == [
        ("WARNING", "warehouse freshness not read")
    ]


# --- errors -------------------------------------------------------------------------------


def test_redact_masks_passwords_of_uris_and_dsns() -> None:
    text = (
        "cannot connect to postgresql://pgcdc:s3cr%40t@db:5432/shop; "
        "also host=db password='a b' user=x and password=plain"
    )
    masked = redact_uri(text)
    assert "s3cr" not in masked and "a b" not in masked and "plain" not in masked
    assert "postgresql://pgcdc:***@db:5432/shop" in masked
    assert "host=db password=*** user=x" in masked


def _run_failing(
    capsys: pytest.CaptureFixture[str], exc: Exception, step: str = "transform"
) -> tuple[pytest.ExceptionInfo[Exception], list[dict[str, object]]]:
    def work(settings: object) -> dict[str, object]:
        raise exc

    event = {"step": step, "execution_id": "arn:aws:states:us-east-1:1:execution:m:e1"}
    with pytest.raises(type(exc)) as raised:
        handlers._run(step, event, FakeContext(), work)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    return raised, lines


@pytest.mark.usefixtures("restore_logging")
def test_a_failure_logs_one_error_line_and_reraises_the_same_exception(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGCDC_SLOT", "pgcdc")
    exc = StorageError("cannot write s3://b/processed/x: postgresql://u:hunter2@h/db refused")
    raised, lines = _run_failing(capsys, exc)
    assert raised.value is exc  # Lambda's errorType is the class name: StorageError
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert len(errors) == 1, lines
    error = errors[0]
    assert error["step"] == error["failed_step"] == "transform"
    assert error["error_type"] == "StorageError"
    assert error["execution_id"] == "arn:aws:states:us-east-1:1:execution:m:e1"
    assert error["request_id"] == "req-123"
    assert "cannot write s3://b/processed/x" in str(error["message"])
    assert "hunter2" not in json.dumps(lines)


@pytest.mark.usefixtures("restore_logging")
def test_invalid_settings_fail_as_a_configuration_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGCDC_SLOT", "Not A Slot")
    with pytest.raises(ConfigurationError):
        handlers.transform_handler({"execution_id": "e"}, FakeContext())
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    assert [line["error_type"] for line in lines if line["level"] == "ERROR"] == [
        "ConfigurationError"
    ]


@pytest.mark.usefixtures("restore_logging")
def test_a_success_returns_the_summary_and_logs_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGCDC_SLOT", "pgcdc")
    event = {"execution_id": "exec-1"}
    summary = handlers._run("load", event, FakeContext(), lambda s: {"step": "load", "rows": 1})
    assert summary == {"step": "load", "rows": 1}
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    assert [line["summary"] for line in lines] == [summary]
    assert all(line["execution_id"] == "exec-1" for line in lines)
