"""Reading and writing batch manifests (the transformer's state) in the processed store."""

from __future__ import annotations

from pydantic import ValidationError

from schemas.errors import TerminalError
from schemas.processed import (
    BATCH_PREFIX,
    BATCH_VERSION,
    CHECK_KEY,
    Batch,
    TransformCheck,
    batch_key,
)
from storage import Store


def latest_batch(processed: Store) -> Batch | None:
    """The newest batch, or None before the first run (lists the newest folder only)."""
    for folder in reversed(processed.list_folders(BATCH_PREFIX)):
        keys = [k for k in processed.list_keys(folder) if k.endswith(".batch.json")]
        if keys:
            return read_batch(processed, keys[-1])
    return None


def read_batch(processed: Store, key: str) -> Batch:
    """One manifest; a version this pgcdc does not know is refused."""
    batch = Batch.model_validate_json(processed.read_bytes(key))
    if batch.version != BATCH_VERSION:
        raise TerminalError(f"{processed.url(key)} has version {batch.version}")
    return batch


def save_batch(processed: Store, batch: Batch) -> str:
    """Write a run's manifest, last of its objects; refuses to replace an existing one."""
    key = batch_key(batch.run)
    if processed.exists(key):
        raise TerminalError(f"{processed.url(key)} exists: another transformer ran")
    processed.write_bytes(key, batch.model_dump_json(indent=1).encode())
    return key


def save_check(processed: Store, check: TransformCheck) -> None:
    """Record a run that found nothing new (replaces the previous record; idempotent)."""
    processed.write_bytes(CHECK_KEY, check.model_dump_json().encode())


def latest_check(processed: Store) -> TransformCheck | None:
    """The newest run that found nothing new, or None (none yet, or an unreadable record:
    it is advisory, so it is ignored rather than refused)."""
    if not processed.exists(CHECK_KEY):
        return None
    try:
        return TransformCheck.model_validate_json(processed.read_bytes(CHECK_KEY))
    except ValidationError:
        return None
