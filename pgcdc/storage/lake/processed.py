"""The processed store through its contract (:mod:`pgcdc.schemas.processed`): batch manifests,
newest first or in run order, and the transform check."""

from __future__ import annotations

from pgcdc.schemas.errors import TerminalError
from pgcdc.schemas.processed import (
    BATCH_PREFIX,
    CHECK_KEY,
    Batch,
    TransformCheck,
    batch_key,
    parse_batch_folder,
    parse_batch_key,
)
from pgcdc.schemas.records import parse_record
from pgcdc.storage.lake.records import newest_key, read_record, write_record
from pgcdc.storage.store import Store


def latest_batch(processed: Store) -> Batch | None:
    """The newest batch, or None before the first run (lists the newest folder only)."""
    key = newest_key(processed, BATCH_PREFIX, parse_batch_key)
    return read_batch(processed, key) if key else None


def read_batch(processed: Store, key: str) -> Batch:
    """One manifest; a version this pgcdc does not know is refused."""
    return read_record(processed, key, Batch)


def save_batch(processed: Store, batch: Batch) -> str:
    """Write a run's manifest, last of its objects; refuses to replace an existing one."""
    key = batch_key(batch.run)
    if processed.exists(key):
        raise TerminalError(f"{processed.url(key)} exists: another transformer ran")
    write_record(processed, key, batch, indent=1)
    return key


def batch_keys(processed: Store, after: int = 0) -> list[str]:
    """Keys of the manifests of runs after ``after``, in run order (folders wholly before
    it are not listed)."""
    keys: list[str] = []
    for folder in processed.list_folders(BATCH_PREFIX):
        first = parse_batch_folder(folder)
        if first is None or first + 9999 <= after:
            continue
        keys += [k for k in processed.list_keys(folder) if (parse_batch_key(k) or 0) > after]
    return sorted(keys, key=lambda k: parse_batch_key(k) or 0)


def committed_batches(processed: Store) -> list[Batch]:
    """Every batch manifest, in run order."""
    return [read_batch(processed, k) for k in batch_keys(processed)]


def save_check(processed: Store, check: TransformCheck) -> None:
    """Record a run that found nothing new (replaces the previous record; idempotent)."""
    write_record(processed, CHECK_KEY, check)


def latest_check(processed: Store) -> TransformCheck | None:
    """The newest run that found nothing new, or None (none yet, or an unreadable record:
    it is advisory, so it is ignored rather than refused)."""
    if not processed.exists(CHECK_KEY):
        return None
    data = processed.read_bytes(CHECK_KEY)
    try:
        return parse_record(TransformCheck, data, processed.url(CHECK_KEY))
    except TerminalError:
        return None
