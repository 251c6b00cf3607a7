"""Reading and writing versioned records, and finding the newest one below a folder."""

from __future__ import annotations

from collections.abc import Callable

from pgcdc.schemas.records import R, Record, parse_record
from pgcdc.storage.store import Store


def read_record(store: Store, key: str, model: type[R]) -> R:
    """The record at ``key``, its version checked (:func:`pgcdc.schemas.records.parse_record`)."""
    return parse_record(model, store.read_bytes(key), store.url(key))


def write_record(store: Store, key: str, record: Record, *, indent: int | None = None) -> None:
    """Write a record as JSON. Idempotent: the same record gives the same object."""
    store.write_bytes(key, record.model_dump_json(indent=indent).encode())


def newest_key(store: Store, prefix: str, matches: Callable[[str], object]) -> str | None:
    """The last key (in key order) below ``prefix`` that ``matches`` accepts, walking the
    folders directly below ``prefix`` from the last back: only the newest folder holding
    such a key is listed whole, so records whose keys sort like their age are found in a
    listing or two however many there are."""
    for folder in reversed(store.list_folders(prefix)):
        keys = [k for k in store.list_keys(folder) if matches(k)]
        if keys:
            return keys[-1]
    return None
