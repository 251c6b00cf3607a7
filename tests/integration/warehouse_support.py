"""Shared pieces of the transform/load tests: a captured demo source and its warehouse."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pgcdc.cdc_reader.capture import CaptureOptions, drain
from pgcdc.devtools.demo import init_demo, run_workload
from pgcdc.schemas.tables import TableFilter
from pgcdc.storage import Store, open_store
from pgcdc.transformer.runner import TransformResult, transform
from pgcdc.warehouse_loader.loader import LoadResult, load, open_warehouse
from pgcdc.warehouse_loader.warehouse import Warehouse
from tests.integration.oracle import LEAVE_OUT, seed_demo_with_audit


@dataclass
class Pipeline:
    """A source with a slot, a raw and a processed store, a warehouse location."""

    dsn: str = field(repr=False)  # both may hold a password: kept out of assertion output
    slot: str
    raw: Store
    processed: Store
    warehouse_uri: str = field(repr=False)
    table_filter: TableFilter = field(default_factory=TableFilter)

    def capture(self) -> None:
        drain(self.dsn, self.raw, CaptureOptions(slot=self.slot, table_filter=self.table_filter))

    def transform(self) -> TransformResult:
        return transform(self.raw, self.processed, slot=self.slot)

    def load(self) -> LoadResult:
        with self.warehouse() as wh:
            return load(self.processed, wh)

    def cycle(self) -> None:
        self.capture()
        self.transform()
        self.load()

    def warehouse(self) -> _Opened:
        return _Opened(open_warehouse(self.warehouse_uri))

    def sql(self, text: str) -> list[tuple[Any, ...]]:
        with self.warehouse() as wh, wh.transaction():
            return [tuple(r) for r in wh.execute(text)]

    def source(self, text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(text, params)
            return [tuple(r) for r in cur.fetchall()] if cur.description else []


class _Opened:
    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh

    def __enter__(self) -> Warehouse:
        return self.wh

    def __exit__(self, *exc: object) -> None:
        self.wh.close()


def demo_pipeline(
    dsn: str,
    slot: str,
    tmp_path: Path,
    warehouse_uri: str | None = None,
    *,
    scale: float = 0.02,
    audit: bool = False,
) -> Pipeline:
    """Slot first, then the seeded demo database (so the seed is captured as changes). With
    ``audit``, the source records its own history for the oracle (tests/integration/oracle.py)
    and capture leaves that record out."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot,))
    if audit:
        seed_demo_with_audit(dsn, scale=scale)
    else:
        init_demo(dsn, scale=scale)
    return Pipeline(
        dsn,
        slot,
        open_store(str(tmp_path / "raw")),
        open_store(str(tmp_path / "processed")),
        warehouse_uri or str(tmp_path / "warehouse.duckdb"),
        table_filter=LEAVE_OUT if audit else TableFilter(),
    )


def workload(p: Pipeline, seconds: float = 1.0, seed: int = 5) -> None:
    run_workload(p.dsn, rate=0, duration=seconds, seed=seed)


def warehouse_digest(p: Pipeline) -> dict[str, str]:
    """A content hash of every warehouse table (rows sorted; the load-time column left out)."""
    out = {}
    with p.warehouse() as wh, wh.transaction():
        mirrors = wh.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            # no LIKE 'mirror%': psycopg would take the '%' for a parameter
            "WHERE substr(table_schema, 1, 7) = 'mirror_'"
        )
        names = [(None, n) for n in wh.existing_relations()] + [(s, n) for s, n in mirrors]
        for schema, name in sorted(names, key=repr):
            table = (
                wh.quote(str(name))
                if schema is None
                else f"{wh.quote(str(schema))}.{wh.quote(str(name))}"
            )
            rows = wh.execute(f"SELECT * FROM {table}")
            if name == "pgcdc_load_state":
                rows = [r[:2] for r in rows]
            text = "\n".join(sorted(repr(tuple(r)) for r in rows))
            out[f"{schema}.{name}"] = hashlib.sha256(text.encode()).hexdigest()
    return out
