"""Tables without a key: their state is a multiset of whole rows (no services; the state
objects are Parquet files in a local folder, read back as the transformer does)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from pgcdc.schemas.processed import expand_counts
from pgcdc.storage import Store, open_store
from pgcdc.transformer.current_state import current_state_sql
from pgcdc.transformer.fold import Folded, apply_delta, fold_changes
from pgcdc.transformer.tablestate import TableState, with_deleted

pytestmark = pytest.mark.unit

TS = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
COLUMNS = [("a", pa.int32()), ("b", pa.string())]
SCHEMA = pa.schema(
    [
        *COLUMNS,
        ("_op", pa.string()),
        ("_lsn", pa.int64()),
        ("_seq", pa.int64()),
        ("_commit_ts", pa.timestamp("us", tz="UTC")),
        ("_unchanged", pa.list_(pa.string())),
        ("_old_key", pa.struct(COLUMNS)),
    ]
)
EMPTY = pa.schema([*COLUMNS, ("_count", pa.int64())]).empty_table()
Row = tuple[int | None, str | None]


def change(op: str, lsn: int, seq: int, row: Row, old: Row | None = None) -> dict[str, Any]:
    """A raw change as capture writes it under REPLICA IDENTITY FULL (a delete's columns and
    ``_old_key`` both hold the removed row)."""
    return {
        "a": row[0],
        "b": row[1],
        "_op": op,
        "_lsn": lsn,
        "_seq": seq,
        "_commit_ts": TS,
        "_unchanged": None,
        "_old_key": None if old is None else {"a": old[0], "b": old[1]},
    }


class Keyless:
    """A key-less table's state objects in a store, folded run after run like the runner."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.objects: list[str] = []
        self.con = duckdb.connect()
        self.log: list[dict[str, Any]] | None = []
        """Every change folded (None: the state did not start empty)."""

    def run(self, changes: list[dict[str, Any]]) -> Folded:
        state = TableState(self.store, self.objects, ["a", "b"], EMPTY, self.con)
        if self.log is not None:
            self.log += changes
        rows = pa.Table.from_pylist(changes, schema=SCHEMA)
        folded = fold_changes(self.con, rows, ["a", "b"], state, multiset=True, name="t")
        name = f"s/{len(self.objects):04d}"
        if folded.state is not None:
            self.store.write_parquet(f"{name}.base.parquet", with_deleted(folded.state))
            self.objects = [f"{name}.base.parquet"]
        else:
            assert folded.delta is not None
            self.store.write_parquet(f"{name}.parquet", folded.delta)
            self.objects.append(f"{name}.parquet")
        return folded

    def rows(self) -> Counter[Row]:
        """The current rows from the state objects; the whole-log fold of every change so
        far (``pgcdc query``'s) must agree."""
        state = TableState(self.store, self.objects, ["a", "b"], EMPTY, self.con)(None)
        rows = Counter((r["a"], r["b"]) for r in expand_counts(state).to_pylist())
        if self.log is not None:
            self.con.register("_log", pa.Table.from_pylist(self.log, schema=SCHEMA))
            whole = self.con.sql(current_state_sql("_log", ["a", "b"], ["a", "b"])).fetchall()
            assert Counter(whole) == rows
        return rows


@pytest.fixture
def table(tmp_path: Path) -> Keyless:
    return Keyless(open_store(str(tmp_path)))


def test_identical_rows_and_nulls_are_kept(table: Keyless) -> None:
    table.run([change("c", 10, i, (1, None)) for i in range(3)] + [change("c", 10, 3, (2, "x"))])
    assert table.rows() == Counter({(1, None): 3, (2, "x"): 1})


def test_changes_touch_one_copy_each_across_runs(table: Keyless) -> None:
    """A delete or update of one of several identical rows, an update that changed nothing
    (no ``_old_key``), another copy of a row folded in an earlier run."""
    table.run([change("c", 10, i, (1, None)) for i in range(3)] + [change("c", 10, 3, (2, "x"))])
    folded = table.run(
        [
            change("d", 20, 0, (1, None), old=(1, None)),
            change("u", 20, 1, (1, "y"), old=(1, None)),
            change("u", 20, 2, (2, "x")),
            change("c", 30, 0, (2, "x")),
        ]
    )
    assert table.rows() == Counter({(1, None): 1, (1, "y"): 1, (2, "x"): 2})
    assert folded.delta is not None
    delta = {(r["a"], r["b"]): (r["_previous"], r["_count"]) for r in folded.delta.to_pylist()}
    assert delta == {(1, None): (3, 1), (1, "y"): (0, 1), (2, "x"): (1, 2)}
    kinds = [(v["a"], v["b"], v["_deleted"]) for v in folded.versions.to_pylist()]
    assert kinds == [
        (1, None, True),
        (1, None, True),
        (1, "y", False),
        (2, "x", False),
        (2, "x", False),
    ]


def test_delete_of_every_copy_removes_the_row(table: Keyless) -> None:
    table.run([change("c", 10, i, (5, "z")) for i in range(2)])
    table.run([change("d", 20, i, (5, "z"), old=(5, "z")) for i in range(2)])
    assert table.rows() == Counter()


def test_truncate_and_snapshot_reset_the_counts(table: Keyless) -> None:
    table.run([change("c", 10, i, (1, "a")) for i in range(2)])
    table.run([change("t", 20, 0, (None, None)), change("c", 20, 1, (1, "a"))])
    assert table.rows() == Counter({(1, "a"): 1})
    table.run(
        [
            change("c", 25, 0, (9, "gone")),
            change("r", 30, 0, (1, "a")),
            change("r", 30, 1, (1, "a")),
            change("r", 30, 2, (3, None)),
            change("d", 40, 0, (1, "a"), old=(1, "a")),
        ]
    )
    assert table.rows() == Counter({(1, "a"): 1, (3, None): 1})


def test_state_written_before_multisets_counts_one_copy(table: Keyless) -> None:
    """A state object without ``_count`` (the old fold kept one row per distinct row)."""
    old = with_deleted(pa.table({"a": pa.array([1], pa.int32()), "b": ["a"]}))
    table.store.write_parquet("s/old.base.parquet", old)
    table.objects = ["s/old.base.parquet"]
    table.log = None
    table.run([change("c", 20, 0, (1, "a"))])
    assert table.rows() == Counter({(1, "a"): 2})


def test_apply_delta_keeps_counts() -> None:
    con = duckdb.connect()
    state = pa.table({"a": pa.array([1, 2], pa.int32()), "b": [None, "x"], "_count": [2, 1]})
    delta = pa.table(
        {
            "a": pa.array([1, 2], pa.int32()),
            "b": [None, "x"],
            "_previous": [2, 1],
            "_count": [3, 0],
            "_deleted": [False, True],
        }
    )
    out = apply_delta(con, state, delta, ["a", "b"])
    assert out.to_pylist() == [{"a": 1, "b": None, "_count": 3}]
