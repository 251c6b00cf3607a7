"""Counted nouns in the lines people read agree in number."""

from __future__ import annotations

import pytest

from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.wording import counted
from pgcdc.transformer.runner import TransformResult
from pgcdc.warehouse_loader.loader import LoadResult

pytestmark = pytest.mark.unit


def test_counted_noun_is_singular_for_one_only() -> None:
    assert [counted(n, "table") for n in (0, 1, 2)] == ["0 tables", "1 table", "2 tables"]
    assert counted(1, "batch", "batches") == "1 batch"
    assert counted(1200, "batch", "batches") == "1,200 batches"


def test_step_lines_agree_in_number() -> None:
    one = TransformResult(run=2, changes=1, tables=1, rows={"fact_x": 1}).describe()
    assert one.startswith("transform: batch 2: 1 change of 1 table → 1 warehouse row, "), one
    assert TransformResult(checked=Lsn(0x16B3748)).describe() == (
        "transform: nothing new up to 0/16B3748, no batch"
    )
    load = LoadResult(batches=1, rows=1, loaded_up_to=2).describe()
    assert load.startswith("load: 1 batch, 1 row, up to batch 2, 0 audit failures, "), load
