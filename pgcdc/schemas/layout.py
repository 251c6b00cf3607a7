"""The raw-store contract: where every object lives, and the records beside the data.

Other engines read the raw store directly, so these names are a contract:

- captured changes: ``<schema>.<table>/date=YYYY-MM-DD/hour=HH/<first>_<last>.parquet``
  (``<first>``/``<last>``: the first and last commit LSN of the batch as 16 hex digits, so
  names sort like LSNs; a transaction too large for one batch is written in parts,
  ``<lsn>_<lsn>.pNNNNN.parquet``). The UTC commit time of the table's first change in the
  batch decides the folder, so a retried batch lands on the same key.
- snapshots: ``<schema>.<table>/snapshot=<lsn>/part-NNNNN.parquet``, complete once
  ``snapshot=<lsn>/_manifest.json`` (:class:`SnapshotManifest`) exists.
- positions and batch intents: ``_state/capture/<slot>/<hi>/…`` (``<hi>``: the LSN's upper
  32 bits, so the newest records are found by listing one small folder).
- snapshot chunk records: ``_state/snapshot/<slot>/<lsn>/<schema>.<table>/part-NNNNN.json``.

The table folder ``<schema>.<table>`` escapes, in each part, ``%``, ``.``, ``/``, ``=`` and
control characters as ``%XX`` (uppercase hex of the byte), so a folder names one table:
``"a.b"."c"`` is ``a%2Eb.c`` and ``"a"."b.c"`` is ``a.b%2Ec``. A name without those characters
keeps its folder exactly (``public.staff``, ``My Schema.Mixed Case``, unicode). Folders written
before escaping (``a.b.c``) are still read: :func:`table_folders` lists a table's old folder
too, and :func:`parse_table_folder` splits an old name at its first dot, as readers always did.

Every key has its builder and its parser side by side here; :mod:`pgcdc.storage.lake` is the only
code that lists the store and parses what it finds.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import ClassVar

from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.records import Record
from pgcdc.schemas.tables import TableName

STATE_PREFIX = "_state"
SNAPSHOT_MANIFEST = "_manifest.json"
STATE_VERSION = 1

_ESCAPED = frozenset("%./=") | {chr(c) for c in range(0x20)} | {"\x7f"}
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_HEX16 = "[0-9A-F]{16}"


def escape_name(part: str) -> str:
    """One identifier as a folder-name part: ``%``, ``.``, ``/``, ``=`` and control
    characters as ``%XX``; everything else (letters of any script, spaces…) unchanged."""
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in part)


def unescape_name(text: str) -> str:
    """The identifier a folder-name part spells. Only the escapes :func:`escape_name` writes
    are decoded; any other ``%`` (in a folder written before escaping) is kept as it is."""

    def decode(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _ESCAPED else match.group(0)

    return _ESCAPE.sub(decode, text)


def table_prefix(table: TableName) -> str:
    """The folder a table's objects are written to: ``<schema>.<table>``, each part escaped."""
    return f"{escape_name(table.schema)}.{escape_name(table.name)}"


def legacy_table_prefix(table: TableName) -> str | None:
    """The folder pgcdc wrote the table to before escaping, when it differs from
    :func:`table_prefix` (None: the same folder, or a name no folder could hold)."""
    old = table.qualified
    return None if old == table_prefix(table) or "/" in old else old


def table_folders(table: TableName) -> tuple[str, ...]:
    """Every folder that may hold the table's objects: today's, then the old one if any.

    An old folder of a name with dots may also hold another table's objects (``a.b.c``
    was both ``"a.b"."c"`` and ``"a"."b.c"``): read as before, they stay merged.
    """
    legacy = legacy_table_prefix(table)
    return (table_prefix(table),) if legacy is None else (table_prefix(table), legacy)


def parse_table_folder(folder: str) -> TableName | None:
    """The table a top-level folder holds; None for a folder that is not a table's
    (``_state``, hidden names, a name without a dot). An old name splits at its first dot."""
    if folder.startswith(".") or "." not in folder:
        return None
    schema, name = folder.split(".", 1)
    if not schema or not name:
        return None
    return TableName(unescape_name(schema), unescape_name(name))


@dataclass(frozen=True, slots=True)
class DataObject:
    """A Parquet object of a table, as its key describes it."""

    key: str
    table: TableName
    lsn: Lsn
    """The last commit LSN it holds (a snapshot's: its consistent point)."""
    first: Lsn
    """The first commit LSN it holds (a snapshot's: the same point)."""
    part: int | None
    snapshot: bool


def change_file_key(
    table: TableName, commit_ts: dt.datetime, first: Lsn, last: Lsn, part: int | None = None
) -> str:
    """Key of a batch's change file for one table."""
    ts = commit_ts.astimezone(dt.UTC)
    name = f"{first.hex16()}_{last.hex16()}"
    if part is not None:
        name += f".p{part:05d}"
    return f"{table_prefix(table)}/date={ts:%Y-%m-%d}/hour={ts:%H}/{name}.parquet"


_CHANGE_FILE = re.compile(
    rf"([^/]+)/date=\d{{4}}-\d{{2}}-\d{{2}}/hour=\d{{2}}/({_HEX16})_({_HEX16})(?:\.p(\d{{5}}))?\.parquet"
)


def snapshot_file_key(table: TableName, snapshot_lsn: Lsn, part: int) -> str:
    """Key of one part of a table snapshot."""
    return f"{snapshot_folder(table, snapshot_lsn)}/{snapshot_part_name(part)}"


def snapshot_part_name(part: int) -> str:
    """The name of a snapshot part in its folder (what the manifest lists)."""
    return f"part-{part:05d}.parquet"


_SNAPSHOT_FILE = re.compile(rf"([^/]+)/snapshot=({_HEX16})/part-(\d{{5}})\.parquet")


def parse_data_key(key: str) -> DataObject | None:
    """What a change file's or snapshot part's key says; None for any other key."""
    if found := _CHANGE_FILE.fullmatch(key):
        table = parse_table_folder(found.group(1))
        part = int(found.group(4)) if found.group(4) else None
        first, last = Lsn.parse(found.group(2)), Lsn.parse(found.group(3))
        return DataObject(key, table, last, first, part, False) if table else None
    if found := _SNAPSHOT_FILE.fullmatch(key):
        table = parse_table_folder(found.group(1))
        lsn = Lsn.parse(found.group(2))
        return DataObject(key, table, lsn, lsn, int(found.group(3)), True) if table else None
    return None


def snapshot_folder(table: TableName, snapshot_lsn: Lsn) -> str:
    """Folder of one snapshot of a table (its parts and its manifest)."""
    return f"{table_prefix(table)}/snapshot={snapshot_lsn.hex16()}"


def snapshot_manifest_key(table: TableName, snapshot_lsn: Lsn) -> str:
    """Key of the manifest that marks a table's snapshot complete (written last)."""
    return f"{snapshot_folder(table, snapshot_lsn)}/{SNAPSHOT_MANIFEST}"


_MANIFEST = re.compile(rf"([^/]+)/snapshot=({_HEX16})/{re.escape(SNAPSHOT_MANIFEST)}")


def parse_snapshot_manifest_key(key: str) -> tuple[TableName, Lsn] | None:
    """The table and snapshot LSN of a manifest key; None for any other key."""
    found = _MANIFEST.fullmatch(key)
    table = parse_table_folder(found.group(1)) if found else None
    return (table, Lsn.parse(found.group(2))) if found and table else None


def readable_objects(keys: list[str]) -> list[str]:
    """The Parquet objects a reader should use: change files, and snapshot parts only of
    snapshots whose manifest (written last) exists; an unfinished snapshot is left out."""
    complete = {k.rsplit("/", 1)[0] for k in keys if parse_snapshot_manifest_key(k)}
    return [
        k
        for k in keys
        if (found := parse_data_key(k)) is not None
        and (not found.snapshot or k.rsplit("/", 1)[0] in complete)
    ]


def snapshot_chunk_key(slot: str, lsn: Lsn, table: TableName, part: int) -> str:
    """Key of the record saying one chunk of a snapshot is durable (progress, monitoring)."""
    return (
        f"{STATE_PREFIX}/snapshot/{slot}/{lsn.hex16()}/{table_prefix(table)}/part-{part:05d}.json"
    )


_CHUNK = re.compile(rf"{STATE_PREFIX}/snapshot/([^/]+)/({_HEX16})/([^/]+)/part-(\d{{5}})\.json")


def parse_snapshot_chunk_key(key: str) -> tuple[str, Lsn, TableName, int] | None:
    """(slot, snapshot LSN, table, part) of a chunk record's key; None for any other key."""
    found = _CHUNK.fullmatch(key)
    table = parse_table_folder(found.group(3)) if found else None
    if not found or table is None:
        return None
    return found.group(1), Lsn.parse(found.group(2)), table, int(found.group(4))


def capture_state_prefix(slot: str) -> str:
    """Folder of a slot's position records and batch intents."""
    return f"{STATE_PREFIX}/capture/{slot}"


POSITION_SUFFIX = ".position.json"
INTENT_SUFFIX = ".intent.json"


def position_key(slot: str, lsn: Lsn) -> str:
    """Key of the position record saying 'everything up to ``lsn`` is durable'."""
    return f"{capture_state_prefix(slot)}/{int(lsn) >> 32:08X}/{lsn.hex16()}{POSITION_SUFFIX}"


_POSITION = re.compile(rf"{STATE_PREFIX}/capture/([^/]+)/[0-9A-F]{{8}}/({_HEX16})\.position\.json")


def parse_position_key(key: str) -> tuple[str, Lsn] | None:
    """(slot, LSN) of a position record's key; None for any other key."""
    found = _POSITION.fullmatch(key)
    return (found.group(1), Lsn.parse(found.group(2))) if found else None


def intent_key(slot: str, first: Lsn, last: Lsn) -> str:
    """Key of the record written before a batch's data (its LSN range)."""
    return (
        f"{capture_state_prefix(slot)}/{int(last) >> 32:08X}/"
        f"{last.hex16()}.{first.hex16()}{INTENT_SUFFIX}"
    )


_INTENT = re.compile(
    rf"{STATE_PREFIX}/capture/([^/]+)/[0-9A-F]{{8}}/({_HEX16})\.({_HEX16})\.intent\.json"
)


def parse_intent_key(key: str) -> tuple[str, Lsn, Lsn] | None:
    """(slot, first, last) of an intent record's key; None for any other key."""
    found = _INTENT.fullmatch(key)
    if not found:
        return None
    return found.group(1), Lsn.parse(found.group(3)), Lsn.parse(found.group(2))


class Position(Record):
    """Everything up to ``lsn`` (an end-of-commit LSN) is durable in the raw store."""

    KIND: ClassVar[str] = "position record"

    version: int = STATE_VERSION
    slot: str
    lsn: Lsn
    written_at: dt.datetime
    batches: int = 0
    rows: int = 0
    tables: tuple[tuple[str, str], ...] = ()
    """The (schema, table) pairs captured when the record was written."""


class Intent(Record):
    """A batch about to be written: its first and last commit LSN.

    Written before the batch's data so that, after a crash between the data and the position,
    the replay cuts its first batch at ``last`` again, with the same bounds (which decide
    where a large transaction is split into parts), and rewrites the same objects.
    """

    KIND: ClassVar[str] = "intent record"

    version: int = STATE_VERSION
    slot: str
    first: Lsn
    last: Lsn
    max_rows: int
    max_bytes: int


class SnapshotManifest(Record):
    """A table's snapshot is complete: every part is written (the parts' names, in order)."""

    KIND: ClassVar[str] = "snapshot manifest"

    version: int = 1
    table: tuple[str, str]
    lsn: Lsn
    rows: int
    parts: tuple[str, ...]


class SnapshotChunk(Record):
    """One chunk of a snapshot is durable: its object and row count (progress only)."""

    KIND: ClassVar[str] = "snapshot chunk record"

    version: int = 1
    key: str
    rows: int
