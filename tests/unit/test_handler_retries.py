"""On Lambda a capture is tried once: retries belong to the state machine.

An in-process retry would start the drain again with its whole time budget inside the same
invocation, which then runs past the function's timeout. The capture here fails for real (a
loopback port nothing listens on: connection refused, a transient ``SourceUnreachableError``
that the CLI would try three times).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from pgcdc.cdc_reader import capture
from pgcdc.cdc_reader.capture import CaptureOptions
from pgcdc.pipeline import handlers
from pgcdc.schemas.errors import SourceUnreachableError
from tests.unit.lambda_support import FakeContext

pytestmark = pytest.mark.unit


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.usefixtures("restore_logging")
def test_a_transient_capture_failure_is_raised_after_one_drain(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = f"host=127.0.0.1 port={closed_port()} user=u password=pw dbname=d connect_timeout=5"
    monkeypatch.setenv("PGCDC_SOURCE_DSN", dsn)
    monkeypatch.setenv("PGCDC_RAW_URI", str(tmp_path / "raw"))
    monkeypatch.setenv("PGCDC_SLOT", "pgcdc")
    drains: list[CaptureOptions] = []
    real_drain = capture.drain

    def counted(dsn: str, raw: Any, options: CaptureOptions, **kw: Any) -> Any:
        drains.append(options)
        return real_drain(dsn, raw, options, **kw)

    monkeypatch.setattr(capture, "drain", counted)  # service imports it when capture runs
    context = FakeContext(remaining_ms=600_000)
    with pytest.raises(SourceUnreachableError):
        handlers.capture_handler({"execution_id": "e-1"}, context)
    assert len(drains) == 1, "the handler retried the drain in process"
    assert drains[0].time_budget == handlers.time_budget(600_000)
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    assert [x["error_type"] for x in lines if x["level"] == "ERROR"] == ["SourceUnreachableError"]
    assert not [x for x in lines if "trying again" in str(x["message"])]


@pytest.mark.usefixtures("restore_logging")
def test_the_budget_is_measured_when_the_drain_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Time spent before the drain (reading settings, secrets) comes off the budget: the
    remaining time is read after them, not at the handler's first line."""
    monkeypatch.setenv("PGCDC_SOURCE_DSN", f"host=127.0.0.1 port={closed_port()} dbname=d")
    monkeypatch.setenv("PGCDC_RAW_URI", str(tmp_path / "raw"))
    monkeypatch.setenv("PGCDC_SLOT", "pgcdc")
    context = FakeContext(remaining_ms=600_000)
    budgets: list[float | None] = []

    def settings_take_time(*args: Any, **kw: Any) -> Any:
        context.remaining_ms -= 120_000  # a slow secret lookup
        return real_load(*args, **kw)

    def drain(dsn: str, raw: Any, options: CaptureOptions, **kw: Any) -> Any:
        budgets.append(options.time_budget)
        raise SourceUnreachableError("stopped here")

    real_load = handlers.config.load_settings
    monkeypatch.setattr(handlers.config, "load_settings", settings_take_time)
    monkeypatch.setattr(capture, "drain", drain)
    with pytest.raises(SourceUnreachableError):
        handlers.capture_handler({}, context)
    assert budgets == [handlers.time_budget(480_000)]
