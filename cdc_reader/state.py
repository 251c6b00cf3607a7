"""Capture progress records: what is durable in the raw store, and what a batch intended.

Records are small versioned JSON documents, each a new object (never overwritten), so the
raw store stays append-only. The newest record is found by listing the newest folder only.
An in-memory twin (:class:`MemoryStateStore`) serves unit tests.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from schemas import layout
from schemas.errors import TerminalError
from schemas.lsn import Lsn
from storage import Store

STATE_VERSION = 1


class Position(BaseModel):
    """Everything up to ``lsn`` (an end-of-commit LSN) is durable in the raw store."""

    model_config = ConfigDict(frozen=True)

    version: int = STATE_VERSION
    slot: str
    lsn: Lsn
    written_at: dt.datetime
    batches: int = 0
    rows: int = 0
    tables: tuple[tuple[str, str], ...] = ()
    """The (schema, table) pairs captured when the record was written."""


class Intent(BaseModel):
    """A batch about to be written: its first and last commit LSN.

    Written before the batch's data so that, after a crash between the data and the position,
    the replay cuts its first batch at ``last`` again, with the same bounds (which decide
    where a large transaction is split into parts), and rewrites the same objects.
    """

    model_config = ConfigDict(frozen=True)

    version: int = STATE_VERSION
    slot: str
    first: Lsn
    last: Lsn
    max_rows: int
    max_bytes: int


class StateStore(Protocol):
    """Where capture progress lives."""

    def latest_position(self, slot: str) -> Position | None: ...
    def save_position(self, position: Position) -> None: ...
    def pending_intent(self, slot: str, after: Lsn | None) -> Intent | None: ...
    def save_intent(self, intent: Intent) -> None: ...


def _check_version(doc: dict[str, object], key: str) -> None:
    version = doc.get("version")
    if version != STATE_VERSION:
        raise TerminalError(
            f"state record {key} has version {version!r}; this pgcdc reads {STATE_VERSION}"
        )


class StoreStateStore:
    """Progress records under ``<raw>/_state/capture/<slot>/``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def _newest(self, slot: str, suffix: str) -> tuple[str, dict[str, object]] | None:
        """The newest record with ``suffix``, walking folders from the newest back."""
        for folder in reversed(self._store.list_folders(layout.capture_state_prefix(slot))):
            keys = [k for k in self._store.list_keys(folder) if k.endswith(suffix)]
            if keys:
                doc = json.loads(self._store.read_bytes(keys[-1]))
                _check_version(doc, self._store.url(keys[-1]))
                return keys[-1], doc
        return None

    def latest_position(self, slot: str) -> Position | None:
        """The newest position record, or None before the first batch."""
        found = self._newest(slot, ".position.json")
        return Position.model_validate(found[1]) if found else None

    def save_position(self, position: Position) -> None:
        """Write a position record. Idempotent per LSN (same key, same meaning)."""
        key = layout.position_key(position.slot, position.lsn)
        self._store.write_bytes(key, position.model_dump_json().encode())

    def pending_intent(self, slot: str, after: Lsn | None) -> Intent | None:
        """The newest intent whose batch ends beyond ``after`` (a batch cut short by a crash)."""
        found = self._newest(slot, ".intent.json")
        if not found:
            return None
        intent = Intent.model_validate(found[1])
        return None if after is not None and intent.last <= after else intent

    def save_intent(self, intent: Intent) -> None:
        """Write an intent record. Idempotent per LSN range."""
        key = layout.intent_key(intent.slot, intent.first, intent.last)
        self._store.write_bytes(key, intent.model_dump_json().encode())


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
