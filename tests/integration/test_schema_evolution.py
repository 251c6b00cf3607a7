"""A source table gains a column after the warehouse exists: its mirror gains it too."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgcdc.storage import open_store
from tests.integration.warehouse_support import Pipeline

pytestmark = pytest.mark.integration

MIRROR = '"mirror_public"."item"'


def _pipeline(dsn: str, slot: str, tmp_path: Path, warehouse_uri: str) -> Pipeline:
    """A slot, then a small table of three rows (any schema, not the demo's)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot,))
        conn.execute("CREATE TABLE public.item (id integer PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO public.item VALUES (1, 'one'), (2, 'two'), (3, 'three')")
    return Pipeline(
        dsn,
        slot,
        open_store(str(tmp_path / "raw")),
        open_store(str(tmp_path / "processed")),
        warehouse_uri,
    )


def _mirror_columns(p: Pipeline) -> list[str]:
    with p.warehouse() as wh, wh.transaction():
        return wh.table_columns("mirror_public", "item")


def _rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=lambda r: r[0])


def test_added_column_and_its_values_reach_the_mirror(
    pg_dsn: str, slot_name: str, tmp_path: Path, warehouse_uri: str
) -> None:
    """ALTER TABLE … ADD COLUMN after the first load: the next load adds the column to the
    mirror and carries the values of the rows changed since; a later change to an older row
    fills it in too. The mirror equals the source after every cycle."""
    p = _pipeline(pg_dsn, slot_name, tmp_path, warehouse_uri)
    p.cycle()
    assert _mirror_columns(p) == ["id", "name"]

    p.source("ALTER TABLE public.item ADD COLUMN price numeric(10, 2)")
    p.source("UPDATE public.item SET price = 9.50 WHERE id = 1")
    p.source("INSERT INTO public.item VALUES (4, 'four', 1.25)")
    p.source("DELETE FROM public.item WHERE id = 3")
    p.cycle()
    assert _mirror_columns(p) == ["id", "name", "price"]
    got = _rows(p.sql(f"SELECT id, name, price FROM {MIRROR}"))
    assert got == [(1, "one", Decimal("9.50")), (2, "two", None), (4, "four", Decimal("1.25"))]
    assert got == _rows(p.source("SELECT id, name, price FROM public.item"))

    p.source("UPDATE public.item SET price = 2.00 WHERE id = 2")
    p.cycle()
    got = _rows(p.sql(f"SELECT id, name, price FROM {MIRROR}"))
    assert got == _rows(p.source("SELECT id, name, price FROM public.item"))
    assert got[1] == (2, "two", Decimal("2.00"))
