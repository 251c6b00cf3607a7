"""The workload's choice of operations and its change counting, without a database."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from pgcdc.devtools.demo.changes import Changes
from pgcdc.devtools.demo.workload import MIX, WorkloadSummary, choose_operations

pytestmark = pytest.mark.unit


def _first(seed: int, n: int) -> list[str]:
    return list(itertools.islice(choose_operations(seed), n))


def test_the_choice_sequence_is_fixed_by_the_seed() -> None:
    assert _first(7, 500) == _first(7, 500)
    assert _first(7, 500) != _first(8, 500)


def test_every_operation_is_chosen_roughly_by_its_weight() -> None:
    n = 20_000
    counts = Counter(_first(1, n))
    total_weight = sum(weight for _, weight in MIX.values())
    for name, (_, weight) in MIX.items():
        expected = n * weight / total_weight
        assert abs(counts[name] - expected) < 0.2 * expected + 30, name


def test_changes_count_per_table_and_action() -> None:
    changes = Changes()
    assert not changes
    changes.add("payment", "update")
    changes.add("payment", "update", 2)
    changes.add("sales_order", "delete", 0)
    other = Changes()
    other.add("sales_order", "insert")
    changes.merge(other)
    assert changes
    assert changes.by_table("update") == {"payment": 3}
    assert changes.by_table("insert") == {"sales_order": 1}
    assert changes.by_table("delete") == {}
    assert changes.total("update") == 3


def test_summary_line() -> None:
    summary = WorkloadSummary({"payment": 4}, {"payment": 2}, {}, transactions=5, seconds=2.0)
    assert summary.rate == 2.5
    assert summary.describe() == (
        "workload: 5 transactions in 2.0 s (2.5/s): 4 inserts, 2 updates, 0 deletes"
    )
