"""Capture's batching on recorded wal2json output, without PostgreSQL.

The recorded peek rows (tests/fixtures/wal2json, from ``python -m
tests.fixtures.record_wal2json``) go through the capture run itself (``cdc_reader.capture``:
decoder, batch cuts, intent, data, position, acknowledge) with the in-memory state store and
a raw store in a temporary folder. The one step that needs the server, moving the slot, is
recorded instead. What is expected (commit LSNs, commit times, operations per table) is read
from the recorded JSON directly, not through the decoder.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cdc_reader import capture
from cdc_reader.capture import CaptureOptions, CaptureResult
from cdc_reader.state import Intent, MemoryStateStore
from schemas import layout
from schemas.lsn import Lsn
from schemas.tables import TableName
from schemas.tablespec import ColumnSpec, TableSpec
from storage import Store, open_store

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parents[1] / "fixtures" / "wal2json"
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


def specs() -> dict[TableName, TableSpec]:
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
    tables = specs()
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


def test_each_transaction_its_own_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch closes at every commit: per transaction one intent, one object per table it
    changed, one position, one slot move, in order."""
    txns = transactions("basic_ops")
    got = run_capture(tmp_path, monkeypatch, "basic_ops", max_seconds=0)
    commits = [t.commit for t in txns]
    assert got.acknowledged == commits
    assert [p.lsn for p in got.state.positions[SLOT]] == commits
    assert [(i.first, i.last) for i in got.state.intents[SLOT]] == [(c, c) for c in commits]
    assert got.state.latest_position(SLOT).lsn == commits[-1]  # type: ignore[union-attr]
    assert got.state.pending_intent(SLOT, commits[-1]) is None  # every batch is complete
    expected_keys = {
        layout.change_file_key(TableName.parse(table), t.at, t.commit, t.commit)
        for t in txns
        for table, _ in t.changes
    }
    assert set(data_keys(got.raw)) == expected_keys
    for t in txns:
        stored = []
        for table in sorted({table for table, _ in t.changes}):
            key = layout.change_file_key(TableName.parse(table), t.at, t.commit, t.commit)
            stored += stored_ops(got.raw, key)
        assert sorted(stored) == sorted(t.changes), f"batch {t.commit}"
    assert got.result.batches == len(txns) and got.result.rows == sum(len(t.changes) for t in txns)


def test_one_batch_when_it_all_fits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    txns = transactions("multi_table")
    got = run_capture(tmp_path, monkeypatch, "multi_table", max_rows=1000)
    (only,) = txns
    assert got.acknowledged == [only.commit]
    assert [(i.first, i.last, i.max_rows) for i in got.state.intents[SLOT]] == [
        (only.commit, only.commit, 1000)
    ]
    tables = sorted({table for table, _ in only.changes})
    assert sorted(data_keys(got.raw)) == sorted(
        layout.change_file_key(TableName.parse(t), only.at, only.commit, only.commit)
        for t in tables
    )
    stored = [op for k in data_keys(got.raw) for op in stored_ops(got.raw, k)]
    assert sorted(stored) == sorted(only.changes)


def test_a_pending_intent_cuts_the_replayed_batch_where_it_was_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after the data but before the position leaves an intent (first two
    transactions, 100-row bound) and no position. The replay is asked for 4-row batches
    (the first transaction has 5 rows) but keeps the intent's bound for the whole run: its
    first batch is cut at the intent's end, so it rewrites the same objects, and the rest
    (5 rows) is one batch."""
    txns = transactions("basic_ops")
    c1, c2 = txns[0].commit, txns[1].commit
    state = MemoryStateStore()
    state.save_intent(Intent(slot=SLOT, first=c1, last=c2, max_rows=100, max_bytes=2**26))
    got = run_capture(tmp_path, monkeypatch, "basic_ops", max_rows=4, state=state)
    c3, last = txns[2].commit, txns[-1].commit
    assert got.acknowledged == [c2, last]
    first = {table for t in txns[:2] for table, _ in t.changes}
    assert {k for k in data_keys(got.raw) if c2.hex16() in k} == {
        layout.change_file_key(TableName.parse(table), txns[0].at, c1, c2) for table in first
    }
    stored = [
        op
        for table in sorted(first)
        for op in stored_ops(
            got.raw, layout.change_file_key(TableName.parse(table), txns[0].at, c1, c2)
        )
    ]
    assert sorted(stored) == sorted(txns[0].changes + txns[1].changes)
    # the replayed batch's intent repeats the stored one; then one batch for the rest
    replayed = [(i.first, i.last, i.max_rows) for i in state.intents[SLOT]]
    assert replayed == [(c1, c2, 100), (c1, c2, 100), (c3, last, 100)]
    rest = {table for t in txns[2:] for table, _ in t.changes}
    assert {k for k in data_keys(got.raw) if c2.hex16() not in k} == {
        layout.change_file_key(TableName.parse(table), txns[2].at, c3, last) for table in rest
    }
