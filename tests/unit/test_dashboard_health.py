"""The dashboard reads the slot's figures from the source at most once per interval."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgcdc.readside import status
from pgcdc.readside.dashboard import health
from pgcdc.schemas.settings import Settings

pytestmark = pytest.mark.unit


def test_slot_figures_are_read_once_per_interval(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[str] = []

    def fake_status(dsn: str, raw: object, settings: Settings) -> status.SlotStatus:
        calls.append(dsn)
        return status.SlotStatus(slot=settings.slot, exists=True, lag_bytes=len(calls))

    monkeypatch.setattr(status, "slot_status", fake_status)
    settings = Settings(
        source_dsn="host=127.0.0.1 dbname=x",
        raw_uri=str(tmp_path / "raw"),
        slot=f"s_{tmp_path.name[-8:]}",
    )
    first = health.slot_figures(settings, ttl=60)
    again = health.slot_figures(settings, ttl=60)
    assert len(calls) == 1 and again is first and first.figures["lag_bytes"] == 1
    fresh = health.slot_figures(settings, ttl=0)  # interval over: read again
    assert len(calls) == 2 and fresh.figures["lag_bytes"] == 2
