"""Capture without PostgreSQL: recorded wal2json output through the capture run itself.

The recorded peek rows (tests/fixtures/wal2json, from ``python -m
tests.fixtures.record_wal2json``) go through ``pgcdc.cdc_reader.capture``'s run (decoder, batch
cuts, intent, data, position, acknowledge) with the in-memory state store and a raw store in
a temporary folder. The one step that needs the server, moving the slot, is recorded
instead. What tests expect (commit LSNs, commit times, operations per table) is read from the
recorded JSON directly, not through the decoder.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from pgcdc.cdc_reader import capture
from pgcdc.cdc_reader.capture import CaptureOptions, CaptureResult
from pgcdc.cdc_reader.state import MemoryStateStore
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.tables import TableName
from pgcdc.schemas.tablespec import ColumnSpec, TableSpec
from pgcdc.storage import Store, open_store

FIXTURES = Path(__file__).parent / "fixtures" / "wal2json"
SLOT = "recorded"
OPS = {"I": "c", "U": "u", "D": "d", "T": "t"}


@dataclass(frozen=True)
class Txn:
    """One recorded transaction: its commit LSN and time, and its changes (table, op)."""

    commit: Lsn
    at: dt.datetime
    changes: tuple[tuple[str, str], ...]


def peek_rows(scenario: str) -> list[tuple[str, str, str]]:
    lines = (FIXTURES / f"{scenario}.jsonl").read_text().splitlines()
    return [(r["lsn"], r["xid"], r["data"]) for r in map(json.loads, lines)]


def transactions(scenario: str) -> list[Txn]:
    """The scenario's transactions, read from the raw JSON (commit LSN: the end of the
    commit record, wal2json's ``nextlsn``)."""
    txns, changes, began = [], [], None
    for _, _, data in peek_rows(scenario):
        doc = json.loads(data)
        if doc["action"] == "B":
            began = dt.datetime.fromisoformat(doc["timestamp"])
            changes = []
        elif doc["action"] in OPS:
            changes.append((f"{doc['schema']}.{doc['table']}", OPS[doc["action"]]))
        elif doc["action"] == "C":
            assert began is not None
            txns.append(Txn(Lsn.parse(doc["nextlsn"]), began, tuple(changes)))
    return txns


@cache
def specs() -> dict[TableName, TableSpec]:
    """Every recorded table's spec, as the reader builds it from pg_catalog (read only)."""
    result = {}
    for t in json.loads((FIXTURES / "tables.json").read_text()):
        name = TableName(t["schema"], t["name"])
        result[name] = TableSpec(
            name, tuple(ColumnSpec(**c) for c in t["columns"]), tuple(t["key"])
        )
    return result


@dataclass
class Captured:
    raw: Store
    state: MemoryStateStore
    acknowledged: list[Lsn]
    result: CaptureResult


def run_capture(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    scenario: str,
    *,
    max_rows: int = 1000,
    max_seconds: float = 3600,
    state: MemoryStateStore | None = None,
) -> Captured:
    """Feed a recorded scenario through one capture run (``max_seconds=0``: every commit
    closes its batch)."""
    acknowledged: list[Lsn] = []

    def advance(conn: Any, name: str, to: Lsn) -> Lsn:
        assert name == SLOT
        acknowledged.append(to)
        return to

    monkeypatch.setattr(capture.slot, "advance_slot", advance)
    raw = open_store(str(tmp_path / "raw"), name="raw store")
    state = state or MemoryStateStore()
    options = CaptureOptions(slot=SLOT, max_batch_rows=max_rows, max_batch_seconds=max_seconds)
    tables = dict(specs())  # the run adds specs it learns: not into the shared cache
    run = capture._Run(
        raw=raw,
        state=state,
        ctl=None,  # only moving the slot uses it, and that is recorded above
        options=options,
        specs=tables,
        captured=tuple((t.schema, t.name) for t in sorted(tables)),
        result=CaptureResult(SLOT),
        intent=state.pending_intent(SLOT, None),
        progress=None,
    )
    assert run.consume(peek_rows(scenario), time.monotonic())
    return Captured(raw, state, acknowledged, run.result)


def data_keys(raw: Store) -> list[str]:
    """Every change object of the raw store (the state records left out)."""
    return [k for k in raw.list_keys() if k.endswith(".parquet")]


def stored_ops(raw: Store, key: str) -> list[tuple[str, str]]:
    """(table, op) of every change in one object, in LSN order."""
    data = raw.read_parquet(key).sort_by([("_lsn", "ascending"), ("_seq", "ascending")])
    table = key.split("/", 1)[0]
    return [(table, op) for op in data.column("_op").to_pylist()]
