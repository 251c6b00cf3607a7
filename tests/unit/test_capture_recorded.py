"""Capture's batching on recorded wal2json output, without PostgreSQL (see
tests/recorded_capture.py for how the recorded rows reach the capture run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgcdc.cdc_reader.state import Intent, MemoryStateStore
from pgcdc.schemas import layout
from pgcdc.schemas.tables import TableName
from tests.recorded_capture import SLOT, data_keys, run_capture, stored_ops, transactions

pytestmark = pytest.mark.unit


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
