"""The current-state layer: incremental folds of change logs (no services)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from pgcdc.storage import open_store
from pgcdc.transformer.fold import Folded, apply_delta, fold_changes, with_departed
from pgcdc.transformer.tablestate import TableState, with_deleted

pytestmark = pytest.mark.unit

TS = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SCHEMA = pa.schema(
    [
        ("id", pa.int32()),
        ("body", pa.string()),
        ("n", pa.int32()),
        ("_op", pa.string()),
        ("_lsn", pa.int64()),
        ("_seq", pa.int64()),
        ("_commit_ts", pa.timestamp("us", tz="UTC")),
        ("_unchanged", pa.list_(pa.string())),
        ("_old_key", pa.struct([("id", pa.int32())])),
    ]
)


def change(
    op: str,
    lsn: int,
    seq: int,
    id_: int,
    body: str | None = None,
    n: int | None = None,
    unchanged: list[str] | None = None,
    old: int | None = None,
) -> dict[str, Any]:
    return {
        "id": id_,
        "body": body,
        "n": n,
        "_op": op,
        "_lsn": lsn,
        "_seq": seq,
        "_commit_ts": TS,
        "_unchanged": unchanged,
        "_old_key": None if old is None else {"id": old},
    }


def run(state: pa.Table, changes: list[dict[str, Any]]) -> tuple[Folded, pa.Table]:
    """One incremental run: fold onto ``state`` (looked up by key), return the new state."""
    con = duckdb.connect()
    rows = pa.Table.from_pylist(changes, schema=SCHEMA)

    def previous(keys: pa.Table | None) -> pa.Table:
        if keys is None:
            return state
        wanted = set(keys.column(0).to_pylist())
        mask = [k in wanted for k in state.column("id").to_pylist()]
        return state.filter(pa.array(mask, pa.bool_()))

    folded = fold_changes(con, rows, ["id"], previous)
    if folded.state is not None:
        return folded, folded.state
    assert folded.delta is not None
    return folded, apply_delta(con, state, folded.delta, ["id"])


def rows_of(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted((r["id"], r["body"], r["n"]) for r in table.to_pylist())


EMPTY = pa.schema([("id", pa.int32()), ("body", pa.string()), ("n", pa.int32())]).empty_table()


def test_toast_carry_forward_across_runs() -> None:
    """An update that did not send a TOASTed column keeps it, even when the value came from
    an earlier run's state; a delete's version carries the last values."""
    _, state = run(EMPTY, [change("c", 10, 0, 1, "big", 0), change("c", 10, 1, 2, "two", 0)])
    folded, state = run(
        state, [change("u", 20, 0, 1, None, 1, unchanged=["body"]), change("d", 20, 1, 2)]
    )
    assert rows_of(state) == [(1, "big", 1)]
    versions = folded.versions.to_pylist()
    assert [(v["id"], v["body"], v["n"], v["_deleted"]) for v in versions] == [
        (1, "big", 1, False),
        (2, "two", 0, True),
    ]


def test_primary_key_change_removes_old_key() -> None:
    _, state = run(EMPTY, [change("c", 10, 0, 1, "a", 0)])
    folded, state = run(state, [change("u", 20, 0, 5, "a", 1, old=1)])
    assert rows_of(state) == [(5, "a", 1)]
    kinds = {(v["id"], v["_deleted"]) for v in folded.versions.to_pylist()}
    assert kinds == {(1, True), (5, False)}


def test_truncate_then_insert() -> None:
    _, state = run(EMPTY, [change("c", 10, i, i, "x", i) for i in range(1, 4)])
    folded, state = run(state, [change("t", 20, 0, None), change("c", 20, 1, 9, "new", 0)])
    assert rows_of(state) == [(9, "new", 0)]
    deleted = sorted(v["id"] for v in folded.versions.to_pylist() if v["_deleted"])
    assert deleted == [1, 2, 3]


def test_snapshot_replaces_everything_before_it() -> None:
    """A snapshot is the whole table at its LSN: rows absent from it are gone, later
    changes apply on top of it."""
    _, state = run(EMPTY, [change("c", 10, 0, 1, "old", 0), change("c", 10, 1, 2, "old", 0)])
    folded, state = run(
        state,
        [
            change("r", 30, 0, 2, "snap", 7),
            change("r", 30, 1, 3, "snap", 7),
            change("u", 40, 0, 3, None, 8, unchanged=["body"]),
        ],
    )
    assert rows_of(state) == [(2, "snap", 7), (3, "snap", 8)]
    gone = [v["id"] for v in folded.versions.to_pylist() if v["_deleted"]]
    assert gone == [1]


def test_resnapshot_adds_versions_only_where_the_source_differs() -> None:
    """Re-snapshotting a table whose changes were all captured is no change: a snapshot row
    equal to the current row adds no version; a differing or new row does."""
    _, state = run(EMPTY, [change("c", 10, 0, 1, "a", 0), change("c", 10, 1, 2, "b", None)])
    folded, state = run(
        state,
        [
            change("r", 30, 0, 1, "a", 0),
            change("r", 30, 1, 2, "b", None),
            change("r", 30, 2, 3, "new", 1),
        ],
    )
    assert rows_of(state) == [(1, "a", 0), (2, "b", None), (3, "new", 1)]
    assert [(v["id"], v["_deleted"]) for v in folded.versions.to_pylist()] == [(3, False)]
    folded, _ = run(state, [change("r", 50, 0, 1, "a", 5), change("r", 50, 1, 3, "new", 1)])
    assert [(v["id"], v["n"], v["_deleted"]) for v in folded.versions.to_pylist()] == [
        (2, None, True),
        (1, 5, False),
    ]


def test_table_state_reads_newest_object_per_key(tmp_path: Path) -> None:
    """Base then deltas in the processed store: the newest object decides a key."""
    store = open_store(str(tmp_path))
    base = with_deleted(
        pa.table(
            {
                "id": pa.array([1, 2], pa.int32()),
                "body": ["a", "b"],
                "n": pa.array([0, 0], pa.int32()),
            }
        )
    )
    delta = pa.table(
        {
            "id": pa.array([2, 3], pa.int32()),
            "body": ["b2", "c"],
            "n": pa.array([1, 1], pa.int32()),
            "_deleted": [True, False],
        }
    )
    store.write_parquet("s/1.base.parquet", base)
    store.write_parquet("s/2.parquet", delta)
    state = TableState(store, ["s/1.base.parquet", "s/2.parquet"], ["id"], EMPTY, duckdb.connect())
    assert rows_of(state(None)) == [(1, "a", 0), (3, "c", 1)]
    assert rows_of(state(pa.table({"id": pa.array([2, 3], pa.int32())}))) == [(3, "c", 1)]


def test_with_departed_keeps_members_that_came_and_went() -> None:
    """A dimension's input keeps the last values of keys this run ended: one created and
    deleted between runs, one updated then deleted, one moved by a key change."""
    _, state = run(EMPTY, [change("c", 10, 0, 1, "a", 0), change("c", 10, 1, 2, "b", 0)])
    folded, after = run(
        state,
        [
            change("c", 20, 0, 3, "brief", 1),
            change("d", 20, 1, 3),
            change("u", 30, 0, 1, "a2", 2),
            change("d", 30, 1, 1),
            change("u", 40, 0, 9, "b", 0, old=2),
        ],
    )
    assert rows_of(after) == [(9, "b", 0)]
    kept = with_departed(duckdb.connect(), after, folded.versions, ["id"])
    assert rows_of(kept) == [(1, "a2", 2), (2, "b", 0), (3, "brief", 1), (9, "b", 0)]
    assert with_departed(duckdb.connect(), after, None, ["id"]) is after
