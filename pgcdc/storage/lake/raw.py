"""The raw store through its contract (:mod:`pgcdc.schemas.layout`): which tables it holds, each
table's objects, the capture positions and intents, the snapshot records."""

from __future__ import annotations

from pgcdc.schemas import layout
from pgcdc.schemas.layout import DataObject, Intent, Position, SnapshotChunk, SnapshotManifest
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.tables import TableName
from pgcdc.storage.lake.records import newest_key, read_record, write_record
from pgcdc.storage.store import Store


def captured_tables(raw: Store) -> list[TableName]:
    """Every table with a folder in the raw store, in folder order (a table with both an
    old-style and an escaped folder once). Folders starting with ``_`` are left out: pgcdc's
    own (``_state``), and hidden from the Parquet readers."""
    seen: dict[TableName, None] = {}
    for folder in raw.list_folders(""):
        name = folder.rsplit("/", 1)[-1]
        table = None if name.startswith("_") else layout.parse_table_folder(name)
        if table is not None:
            seen.setdefault(table, None)
    return list(seen)


def table_objects(raw: Store, table: TableName, *, complete: bool = True) -> list[DataObject]:
    """The table's change files and snapshot parts, in LSN order (ties by key), from its
    folder and its pre-escaping folder if it had one. ``complete``: only what a reader may
    use, i.e. no part of a snapshot whose manifest is missing (unfinished)."""
    keys: list[str] = []
    for folder in layout.table_folders(table):
        keys += raw.list_keys(folder)
    if complete:
        keys = layout.readable_objects(keys)
    found = [obj for obj in map(layout.parse_data_key, keys) if obj is not None]
    return sorted(found, key=lambda obj: (obj.lsn, obj.key))


def objects_between(raw: Store, table: TableName, after: Lsn, upto: Lsn) -> list[DataObject]:
    """The table's readable objects holding changes in ``(after, upto]``, in LSN order."""
    return [obj for obj in table_objects(raw, table) if after < obj.lsn <= upto]


def latest_position(raw: Store, slot: str) -> Position | None:
    """The slot's newest position record, or None before its first batch."""
    prefix = layout.capture_state_prefix(slot)
    key = newest_key(raw, prefix, layout.parse_position_key)
    return read_record(raw, key, Position) if key else None


def capture_bound(raw: Store, slot: str) -> Lsn | None:
    """The slot's newest capture position: every change up to it is durable."""
    position = latest_position(raw, slot)
    return position.lsn if position else None


def save_position(raw: Store, position: Position) -> None:
    """Write a position record. Idempotent per LSN (same key, same meaning)."""
    write_record(raw, layout.position_key(position.slot, position.lsn), position)


def latest_intent(raw: Store, slot: str) -> Intent | None:
    """The slot's newest batch intent (the highest last LSN), or None."""
    key = newest_key(raw, layout.capture_state_prefix(slot), layout.parse_intent_key)
    return read_record(raw, key, Intent) if key else None


def save_intent(raw: Store, intent: Intent) -> None:
    """Write an intent record. Idempotent per LSN range."""
    write_record(raw, layout.intent_key(intent.slot, intent.first, intent.last), intent)


def save_snapshot_chunk(
    raw: Store, slot: str, lsn: Lsn, table: TableName, *, part: int, rows: int
) -> None:
    """Record that one snapshot chunk (its part object) is durable. Idempotent."""
    key = layout.snapshot_chunk_key(slot, lsn, table, part)
    data_key = layout.snapshot_file_key(table, lsn, part)
    write_record(raw, key, SnapshotChunk(key=data_key, rows=rows))


def save_snapshot_manifest(
    raw: Store, table: TableName, lsn: Lsn, parts: list[tuple[str, int]]
) -> SnapshotManifest:
    """Mark a table's snapshot complete, after all its ``parts`` (key, rows) are written:
    the manifest lists the parts' names and the rows. Idempotent."""
    names = []
    for key, _ in parts:
        found = layout.parse_data_key(key)
        if found is None or not found.snapshot or found.part is None:
            raise ValueError(f"not a snapshot part: {key}")
        names.append(layout.snapshot_part_name(found.part))
    manifest = SnapshotManifest(
        table=(table.schema, table.name),
        lsn=lsn,
        rows=sum(rows for _, rows in parts),
        parts=tuple(names),
    )
    write_record(raw, layout.snapshot_manifest_key(table, lsn), manifest)
    return manifest


def read_snapshot_manifest(raw: Store, table: TableName, lsn: Lsn) -> SnapshotManifest | None:
    """The manifest of a table's snapshot at ``lsn``; None while it is unfinished."""
    key = layout.snapshot_manifest_key(table, lsn)
    return read_record(raw, key, SnapshotManifest) if raw.exists(key) else None
