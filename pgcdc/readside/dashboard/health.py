"""The pipeline-health panel's figures that do not come from the warehouse: the slot.

Slot lag and the last capture come from :func:`pgcdc.readside.status.slot_status`. Any of them may
be unavailable (no source configured, source down, slot missing): the panel then says why in
one line and shows the rest; secrets never reach that line.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from pgcdc.schemas.errors import PgcdcError
from pgcdc.schemas.settings import Settings

log = logging.getLogger("pgcdc.dashboard")


@dataclass(frozen=True)
class SlotFigures:
    """What the source says about the slot, or why it could not say."""

    figures: dict[str, Any]
    unavailable: str | None = None


# The page refreshes every few seconds; the slot's figures are read from the source at most
# this often, so an open dashboard costs the source one short query per interval.
SLOT_TTL_SECONDS = 15.0
_cache: dict[tuple[str, str], tuple[float, SlotFigures]] = {}
_cache_lock = threading.Lock()
NO_SOURCE = "no source database: `pgcdc dashboard` found none (its warning says why)"


def slot_figures(settings: Settings, *, ttl: float = SLOT_TTL_SECONDS) -> SlotFigures:
    """The slot's lag, retained WAL and last capture (``pgcdc status``'s figures), read at
    most every ``ttl`` seconds per slot and raw store (sessions of the page share them)."""
    key = (settings.slot, settings.raw_uri)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < ttl:
            return cached[1]
    found = _read_slot_figures(settings)
    with _cache_lock:
        _cache[key] = (time.monotonic(), found)
    return found


def _read_slot_figures(settings: Settings) -> SlotFigures:
    from pgcdc.readside import status
    from pgcdc.storage import open_store

    if settings.source_dsn is None:  # `pgcdc dashboard` passes the DSN it resolved
        return SlotFigures({}, unavailable=NO_SOURCE)
    try:
        raw = open_store(
            settings.raw_uri,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.aws_region,
            name="raw store",
        )
        found = status.slot_status(settings.source_dsn.get_secret_value(), raw, settings)
    except PgcdcError as exc:  # messages name the slot or host, never a password
        return SlotFigures({}, unavailable=str(exc))
    except Exception as exc:  # degrade: the panel must not take the page down
        log.warning("slot status unavailable: %s", type(exc).__name__)
        return SlotFigures({}, unavailable=f"slot status unavailable ({type(exc).__name__})")
    return SlotFigures(found.as_dict())


def age(moment: Any, now: dt.datetime) -> str:
    """How long ago ``moment`` (a datetime, naive meaning UTC) was, e.g. ``3 min 12 s``."""
    if not isinstance(moment, dt.datetime):
        return "n/a"
    when = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def byte_size(value: Any) -> str:
    """Bytes for a person (``n/a`` when unknown)."""
    if not isinstance(value, int):
        return "n/a"
    size = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{value} B"
