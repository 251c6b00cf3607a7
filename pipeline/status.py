"""`pgcdc status`: is the slot safe and is capture keeping up?

Each figure is also logged as a metric line (``metric``/``value`` extras, the names the
CloudWatch metric filters in infra/ match), and a threshold crossed is one ERROR line.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import Any

from cdc_reader import slot
from cdc_reader.reader import current_wal_lsn
from cdc_reader.source import connect
from cdc_reader.state import StoreStateStore
from schemas.settings import Settings
from storage import Store

log = logging.getLogger("pgcdc.status")


@dataclass(frozen=True)
class SlotStatus:
    """One slot's figures and the problems found."""

    slot: str
    exists: bool
    active: bool = False
    confirmed_lsn: str | None = None
    lag_bytes: int | None = None
    retained_wal_bytes: int | None = None
    wal_status: str | None = None
    safe_wal_size: int | None = None
    last_capture_lsn: str | None = None
    last_capture_at: str | None = None
    problems: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return asdict(self)


def slot_status(dsn: str, raw: Store, settings: Settings) -> SlotStatus:
    """Read the slot and the last capture position; judge them against the thresholds."""
    with connect(dsn, doing="reading the slot's status") as conn:
        info = slot.inspect_slot(conn, settings.slot)
        if info is None:
            return SlotStatus(settings.slot, exists=False, problems=("slot does not exist",))
        current = current_wal_lsn(conn)
    position = StoreStateStore(raw).latest_position(settings.slot)
    lag = current - info.confirmed_flush if info.confirmed_flush else None
    problems = []
    if lag is not None and lag > settings.max_slot_lag_bytes:
        problems.append(
            f"slot {settings.slot} has {lag:,} bytes of WAL not captured "
            f"(threshold {settings.max_slot_lag_bytes:,}): is capture running?"
        )
    if info.wal_status == "lost":
        problems.append(f"slot {settings.slot} has lost WAL it needed: bootstrap again")
    return SlotStatus(
        slot=settings.slot,
        exists=True,
        active=info.active,
        confirmed_lsn=str(info.confirmed_flush) if info.confirmed_flush else None,
        lag_bytes=lag,
        retained_wal_bytes=info.retained_bytes,
        wal_status=info.wal_status,
        safe_wal_size=info.safe_wal_size,
        last_capture_lsn=str(position.lsn) if position else None,
        last_capture_at=position.written_at.isoformat() if position else None,
        problems=tuple(problems),
    )


def report(status: SlotStatus) -> None:
    """Log the figures as metric lines and every problem as one ERROR line."""
    figures = {"slot_lag_bytes": status.lag_bytes, "retained_wal_bytes": status.retained_wal_bytes}
    for metric, value in figures.items():
        if value is not None:
            log.info(metric, extra={"slot": status.slot, "metric": metric, "value": value})
    if status.last_capture_at:
        age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(status.last_capture_at)
        seconds = round(age.total_seconds(), 1)
        log.info(
            "capture_age_seconds",
            extra={"slot": status.slot, "metric": "capture_age_seconds", "value": seconds},
        )
    for problem in status.problems:
        log.error(problem, extra={"slot": status.slot})
