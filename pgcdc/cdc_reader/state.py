"""Capture progress records: what is durable in the raw store, and what a batch intended.

Records are small versioned JSON documents (:class:`~pgcdc.schemas.layout.Position`,
:class:`~pgcdc.schemas.layout.Intent`), each a new object (never overwritten), so the raw store
stays append-only; :mod:`pgcdc.storage.lake.raw` finds the newest by listing the newest folder only.
An in-memory twin (:class:`MemoryStateStore`) serves unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pgcdc.schemas.layout import STATE_VERSION, Intent, Position
from pgcdc.schemas.lsn import Lsn
from pgcdc.storage import Store
from pgcdc.storage.lake import raw as lake

__all__ = [
    "STATE_VERSION",
    "Intent",
    "MemoryStateStore",
    "Position",
    "StateStore",
    "StoreStateStore",
]


class StateStore(Protocol):
    """Where capture progress lives."""

    def latest_position(self, slot: str) -> Position | None: ...
    def save_position(self, position: Position) -> None: ...
    def pending_intent(self, slot: str, after: Lsn | None) -> Intent | None: ...
    def save_intent(self, intent: Intent) -> None: ...


class StoreStateStore:
    """Progress records under ``<raw>/_state/capture/<slot>/`` (:mod:`pgcdc.storage.lake.raw`)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def latest_position(self, slot: str) -> Position | None:
        """The newest position record, or None before the first batch."""
        return lake.latest_position(self._store, slot)

    def save_position(self, position: Position) -> None:
        """Write a position record. Idempotent per LSN (same key, same meaning)."""
        lake.save_position(self._store, position)

    def pending_intent(self, slot: str, after: Lsn | None) -> Intent | None:
        """The newest intent whose batch ends beyond ``after`` (a batch cut short by a crash)."""
        intent = lake.latest_intent(self._store, slot)
        if intent is None:
            return None
        return None if after is not None and intent.last <= after else intent

    def save_intent(self, intent: Intent) -> None:
        """Write an intent record. Idempotent per LSN range."""
        lake.save_intent(self._store, intent)


@dataclass
class MemoryStateStore:
    """The in-memory twin of :class:`StoreStateStore`, for unit tests."""

    positions: dict[str, list[Position]] = field(default_factory=dict)
    intents: dict[str, list[Intent]] = field(default_factory=dict)

    def latest_position(self, slot: str) -> Position | None:
        found = self.positions.get(slot)
        return max(found, key=lambda p: p.lsn) if found else None

    def save_position(self, position: Position) -> None:
        self.positions.setdefault(position.slot, []).append(position)

    def pending_intent(self, slot: str, after: Lsn | None) -> Intent | None:
        found = self.intents.get(slot)
        if not found:
            return None
        intent = max(found, key=lambda i: i.last)
        return None if after is not None and intent.last <= after else intent

    def save_intent(self, intent: Intent) -> None:
        self.intents.setdefault(intent.slot, []).append(intent)
