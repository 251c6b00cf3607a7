"""The raw-store layout: where every object lives, as pure functions.

Other engines read the raw store directly, so these names are a contract:

- captured changes: ``<schema>.<table>/date=YYYY-MM-DD/hour=HH/<first>_<last>.parquet``
  (``<first>``/``<last>``: the first and last commit LSN of the batch as 16 hex digits, so
  names sort like LSNs; a transaction too large for one batch is written in parts,
  ``<lsn>_<lsn>.pNNNNN.parquet``). The UTC commit time of the table's first change in the
  batch decides the folder, so a retried batch lands on the same key.
- snapshots: ``<schema>.<table>/snapshot=<lsn>/part-NNNNN.parquet``.
- positions and batch intents: ``_state/capture/<slot>/<hi>/…`` (``<hi>``: the LSN's upper
  32 bits, so the newest records are found by listing one small folder).
"""

from __future__ import annotations

import datetime as dt

from schemas.lsn import Lsn
from schemas.tables import TableName

STATE_PREFIX = "_state"


def table_prefix(table: TableName) -> str:
    """The folder of one table."""
    if "/" in table.qualified:
        raise ValueError(f"table name with '/' cannot be a folder name: {table.qualified!r}")
    return table.qualified


def change_file_key(
    table: TableName, commit_ts: dt.datetime, first: Lsn, last: Lsn, part: int | None = None
) -> str:
    """Key of a batch's change file for one table."""
    ts = commit_ts.astimezone(dt.UTC)
    name = f"{first.hex16()}_{last.hex16()}"
    if part is not None:
        name += f".p{part:05d}"
    return f"{table_prefix(table)}/date={ts:%Y-%m-%d}/hour={ts:%H}/{name}.parquet"


def snapshot_file_key(table: TableName, snapshot_lsn: Lsn, part: int) -> str:
    """Key of one part of a table snapshot."""
    return f"{table_prefix(table)}/snapshot={snapshot_lsn.hex16()}/part-{part:05d}.parquet"


def snapshot_chunk_key(slot: str, lsn: Lsn, table: TableName, part: int) -> str:
    """Key of the record saying one chunk of a snapshot is durable (progress, monitoring)."""
    return (
        f"{STATE_PREFIX}/snapshot/{slot}/{lsn.hex16()}/{table_prefix(table)}/part-{part:05d}.json"
    )


def capture_state_prefix(slot: str) -> str:
    """Folder of a slot's position records and batch intents."""
    return f"{STATE_PREFIX}/capture/{slot}"


def position_key(slot: str, lsn: Lsn) -> str:
    """Key of the position record saying 'everything up to ``lsn`` is durable'."""
    return f"{capture_state_prefix(slot)}/{int(lsn) >> 32:08X}/{lsn.hex16()}.position.json"


def intent_key(slot: str, first: Lsn, last: Lsn) -> str:
    """Key of the record written before a batch's data (its LSN range)."""
    return (
        f"{capture_state_prefix(slot)}/{int(last) >> 32:08X}/"
        f"{last.hex16()}.{first.hex16()}.intent.json"
    )


SNAPSHOT_MANIFEST = "_manifest.json"


def readable_objects(keys: list[str]) -> list[str]:
    """The Parquet objects a reader should use: change files, and snapshot parts only of
    snapshots whose manifest (written last) exists; an unfinished snapshot is left out."""
    complete = {k.rsplit("/", 1)[0] for k in keys if k.endswith("/" + SNAPSHOT_MANIFEST)}
    return [
        k
        for k in keys
        if k.endswith(".parquet") and ("/snapshot=" not in k or k.rsplit("/", 1)[0] in complete)
    ]
