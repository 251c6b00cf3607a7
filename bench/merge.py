"""Incremental merge cost: 10k new changes against a full rebuild of a ≥ 10M-fact history.

    python -m bench.merge [--changes 10000000] [--new 10000] [--scale 1]

Builds, in one run: the demo database (``--scale``) on a throwaway PostgreSQL, with its seed
captured by ``pgcdc capture`` into a local raw store (the real reference tables, types and
metadata); then a sales-order history of ``--changes`` changes (4 inserts to 1 update of an
earlier order, 100 changes a transaction) written straight into the raw store in the exact
layout and Arrow schema of the captured ``public.sales_order`` objects, with a position
record after it, as capture would leave them. Every synthesised row references real
reference rows, so the audits pass. Then it times

(a) the full rebuild: transform of the whole raw store into an empty processed store, then
    load into an empty DuckDB warehouse;
(b) the increment: ``--new`` changes (inserts, updates and deletes of older orders)
    appended to the raw store with a new position, then transform + load onto (a).

and prints both times, their ratio (the limit is 5 %: exits non-zero above it), the fact
rows in the warehouse and the transform throughput in changes/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.server import bench_database
from bench.verdict import Goal, enforce
from pgcdc.cdc_reader.capture import CaptureOptions, drain
from pgcdc.cdc_reader.state import Position, StoreStateStore
from pgcdc.devtools.demo import init_demo
from pgcdc.schemas import layout
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.tables import TableName
from pgcdc.storage import Store, open_store
from pgcdc.storage.lake.raw import table_objects
from pgcdc.transformer.rawlog import capture_bound
from pgcdc.transformer.runner import transform
from pgcdc.warehouse_loader.loader import load, open_warehouse

INCREMENT = Goal("increment / full rebuild", floor=5.0, higher_is_better=False, unit=" %")

SLOT = "bench_merge"
SALES_ORDER = TableName("public", "sales_order")
TX_CHANGES = 100  # changes per synthesised source transaction
LSN_STEP = 0x1000  # distance between two synthesised commits


def seed_raw_store(dsn: str, raw: Store, scale: float) -> None:
    """The demo database, seeded after the slot exists, captured as changes."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (SLOT,))
    init_demo(dsn, scale=scale)
    drain(dsn, raw, CaptureOptions(slot=SLOT))


def reference_ids(dsn: str) -> dict[str, list[int]]:
    """Ids the synthesised orders may reference (so every audit resolves)."""
    queries = {
        "design_id": "SELECT design_id FROM design",
        "staff_id": "SELECT staff_id FROM staff",
        "counterparty_id": "SELECT counterparty_id FROM counterparty",
        "currency_id": "SELECT currency_id FROM currency",
        "address_id": "SELECT address_id FROM address",
        "max_order": "SELECT coalesce(max(sales_order_id), 0) FROM sales_order",
    }
    with psycopg.connect(dsn) as conn:
        return {k: [int(r[0]) for r in conn.execute(q).fetchall()] for k, q in queries.items()}


def captured_schema(raw: Store) -> pa.Schema:
    """The Arrow schema (with pgcdc metadata) capture wrote for ``public.sales_order``."""
    newest = table_objects(raw, SALES_ORDER)[-1]
    return pq.read_schema(raw.path(newest.key), filesystem=raw.filesystem)


_CHANGES_SQL = """
WITH g AS (
    SELECT i AS n,
           CASE WHEN $mixed THEN (CASE WHEN i % 20 = 19 THEN 'd' WHEN i % 4 = 3 THEN 'u'
                                       ELSE 'c' END)
                ELSE (CASE WHEN i % 5 = 4 THEN 'u' ELSE 'c' END) END AS _op
    FROM range($start::BIGINT, $stop::BIGINT) AS t(i)
),
c AS (
    SELECT *, row_number() OVER (PARTITION BY _op = 'c' ORDER BY n) AS k FROM g
)
SELECT CASE WHEN _op = 'c' THEN $next_id + k - 1
            WHEN $mixed THEN 1 + ((n - $start) * 997) % $older
            ELSE 1 + (hash(n) % $older)::BIGINT END::INTEGER AS sales_order_id,
       (TIMESTAMP '2024-01-01' + INTERVAL 1 SECOND * (n // 3))::TIMESTAMP(3) AS created_at,
       (TIMESTAMP '2024-01-01' + INTERVAL 1 SECOND * (n // 3 + n % 97))::TIMESTAMP(3)
           AS last_updated,
       $design[(1 + hash(n, 1) % len($design))::BIGINT] AS design_id,
       $staff[(1 + hash(n, 2) % len($staff))::BIGINT] AS staff_id,
       $counterparty[(1 + hash(n, 3) % len($counterparty))::BIGINT] AS counterparty_id,
       (1 + hash(n, 4) % 99000)::INTEGER AS units_sold,
       (2 + (hash(n, 5) % 20000) / 100)::DECIMAL(10, 2) AS unit_price,
       $currency[(1 + hash(n, 6) % len($currency))::BIGINT] AS currency_id,
       strftime(DATE '2024-01-01' + (n % 900)::INTEGER, '%Y-%m-%d') AS agreed_delivery_date,
       strftime(DATE '2024-01-05' + (n % 900)::INTEGER, '%Y-%m-%d') AS agreed_payment_date,
       $address[(1 + hash(n, 7) % len($address))::BIGINT] AS agreed_delivery_location_id,
       _op,
       ($first_lsn + (n // $tx) * $step)::BIGINT AS _lsn,
       (n % $tx)::BIGINT AS _seq,
       (1000 + n // $tx)::BIGINT AS _xid,
       TIMESTAMPTZ '2026-01-01 00:00:00+00' + INTERVAL 1 MILLISECOND * (n // $tx) AS _commit_ts,
       NULL::VARCHAR[] AS _unchanged
FROM c ORDER BY n
"""


class History:
    """Synthesises sales-order changes after the captured seed, file by file."""

    def __init__(self, raw: Store, dsn: str) -> None:
        self.raw = raw
        self.schema = captured_schema(raw)
        self.ids = reference_ids(dsn)
        bound = capture_bound(raw, SLOT)
        assert bound is not None, "the seed was not captured"
        self.first_lsn = int(bound) + LSN_STEP
        self.first_order = self.ids["max_order"][0]
        self.written = 0  # changes synthesised so far (the global change number)
        self.inserted = 0  # new orders so far
        self.con = duckdb.connect()

    def write(self, count: int, file_rows: int, *, mixed: bool) -> int:
        """Append ``count`` changes in files of ``file_rows``; the last LSN written."""
        last = 0
        end = self.written + count
        while self.written < end:
            n = min(file_rows, end - self.written)
            rows = self._rows(self.written, n, mixed=mixed)
            self._write_file(rows)
            last = int(pc.max(rows.column("_lsn")).as_py())
            self.written += n
        self._save_position(last)
        return last

    def _rows(self, start: int, n: int, *, mixed: bool) -> pa.Table:
        params: dict[str, object] = {
            "start": start,
            "stop": start + n,
            "mixed": mixed,
            "next_id": self.first_order + self.inserted + 1,
            "older": max(1, self.first_order + self.inserted),
            "first_lsn": self.first_lsn,
            "tx": TX_CHANGES,
            "step": LSN_STEP,
        }
        for name in ("design", "staff", "counterparty", "currency", "address"):
            params[name] = self.ids[f"{name}_id"]
        table = self.con.sql(_CHANGES_SQL, params=params).to_arrow_table()
        self.inserted += int(pc.sum(pc.equal(table.column("_op"), "c")).as_py() or 0)
        return self._finish(table)

    def _finish(self, table: pa.Table) -> pa.Table:
        """Deletes keep only the key; every change gets ``_old_key`` as capture writes it."""
        key = table.column("sales_order_id")
        is_delete = pc.equal(table.column("_op"), "d")
        columns = {}
        for field in self.schema:
            name = field.name
            if name == "_old_key":
                structs = pa.StructArray.from_arrays(
                    [key.combine_chunks().cast(field.type.field(0).type)],
                    fields=[field.type.field(0)],
                    mask=pc.invert(is_delete).combine_chunks(),
                )
                columns[name] = structs
            elif name in table.column_names:
                col = table.column(name)
                if not name.startswith("_") and name != "sales_order_id":
                    col = pc.if_else(is_delete, pa.scalar(None, col.type), col)
                columns[name] = col.cast(field.type)
            else:
                columns[name] = pa.nulls(table.num_rows, field.type)
        return pa.table(columns, schema=self.schema)

    def _write_file(self, rows: pa.Table) -> None:
        lsns = rows.column("_lsn")
        first = Lsn(int(pc.min(lsns).as_py()))
        last = Lsn(int(pc.max(lsns).as_py()))
        commit_ts = rows.column("_commit_ts")[0].as_py()
        key = layout.change_file_key(SALES_ORDER, commit_ts, first, last)
        self.raw.write_parquet(key, rows)

    def _save_position(self, lsn: int) -> None:
        StoreStateStore(self.raw).save_position(
            Position(
                slot=SLOT,
                lsn=Lsn(lsn),
                written_at=dt.datetime.now(dt.UTC),
                tables=((SALES_ORDER.schema, SALES_ORDER.name),),
            )
        )


def transform_and_load(raw: Store, processed: Store, warehouse: str) -> tuple[float, float, int]:
    """Seconds of the transform, seconds of the load, and the changes transformed."""
    began = time.perf_counter()
    result = transform(raw, processed, slot=SLOT)
    transformed = time.perf_counter() - began
    began = time.perf_counter()
    wh = open_warehouse(warehouse)
    try:
        load(processed, wh)
    finally:
        wh.close()  # DuckDB checkpoints here: part of the load's cost
    return transformed, time.perf_counter() - began, result.changes


def fact_rows(warehouse: str) -> int:
    """Rows of fact_sales_order in the DuckDB warehouse."""
    with duckdb.connect(warehouse, read_only=True) as con:
        row = con.execute("SELECT count(*) FROM fact_sales_order").fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--changes", type=int, default=10_000_000, help="history size")
    parser.add_argument("--new", type=int, default=10_000, help="changes in the increment")
    parser.add_argument("--scale", type=float, default=1.0, help="demo database scale")
    parser.add_argument("--file-rows", type=int, default=250_000, help="changes per raw file")
    parser.add_argument("--dir", help="work folder (default: a temporary one)")
    args = parser.parse_args()
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        run(Path(tmp), args)


def run(folder: Path, args: argparse.Namespace) -> None:
    """Build, rebuild, increment, print."""
    raw = open_store(str(folder / "raw"))
    processed = open_store(str(folder / "processed"))
    warehouse = str(folder / "warehouse.duckdb")
    began = time.perf_counter()
    with bench_database("bench_merge") as dsn:
        seed_raw_store(dsn, raw, args.scale)
        history = History(raw, dsn)
    print(f"seed captured in {time.perf_counter() - began:.1f} s", flush=True)
    began = time.perf_counter()
    history.write(args.changes, args.file_rows, mixed=False)
    print(
        f"history: {args.changes:,} sales-order changes synthesised in "
        f"{time.perf_counter() - began:.1f} s",
        flush=True,
    )
    full_t, full_l, full_n = transform_and_load(raw, processed, warehouse)
    facts_before = fact_rows(warehouse)
    print(f"full rebuild: transform {full_t:.1f} s + load {full_l:.1f} s", flush=True)
    history.write(args.new, args.file_rows, mixed=True)
    inc_t, inc_l, inc_n = transform_and_load(raw, processed, warehouse)
    facts = fact_rows(warehouse)
    full, inc = full_t + full_l, inc_t + inc_l
    print(f"warehouse: {facts:,} fact_sales_order rows ({facts - facts_before:,} new)")
    print(f"full rebuild:  {full_n:>12,} changes  {full:8.2f} s  ({full_t:.2f} + {full_l:.2f})")
    print(f"increment:     {inc_n:>12,} changes  {inc:8.2f} s  ({inc_t:.2f} + {inc_l:.2f})")
    print(f"transform throughput: full {full_n / full_t:,.0f} changes/s, ", end="")
    print(f"increment {inc_n / inc_t:,.0f} changes/s")
    enforce([(INCREMENT, 100 * inc / full)])


if __name__ == "__main__":
    main()
