"""Capture throughput against ``pg_recvlogical`` on identical slot content.

    python -m bench.capture [--changes 1000000]

Builds a backlog of ``--changes`` row changes (60% inserts, 30% updates, 10% deletes, in
100-change transactions) behind a wal2json slot, clones the slot twice
(``pg_copy_logical_replication_slot``), then in one run times (a) ``pg_recvlogical``
streaming wal2json format-version 2 with pgcdc's options over TCP to /dev/null, the
baseline, and (b) ``pgcdc``'s drain into durable zstd Parquet in a local raw store. Prints
both rates and the ratio, judged against the floor (0.5) and the aim (1.0) of the ratio
to ``pg_recvlogical`` with format-version 2 only: exits non-zero below the floor.
``PGCDC_BENCH_DSN`` points at an existing server instead of a throwaway one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time

import psycopg

from bench.server import bench_database
from bench.verdict import Goal, enforce
from pgcdc.cdc_reader.capture import CaptureOptions, drain
from pgcdc.cdc_reader.reader import plugin_options
from pgcdc.devtools.localpg import bindir
from pgcdc.storage import open_store

RATIO = Goal("ratio pgcdc / pg_recvlogical (format-version 2 only)", floor=0.5, aim=1.0)

SCHEMA = """
CREATE TABLE bench_sales (
    sales_order_id bigint PRIMARY KEY,
    design_id int NOT NULL, staff_id int NOT NULL, counterparty_id int NOT NULL,
    units_sold int NOT NULL, unit_price numeric(10,2) NOT NULL, currency_id int NOT NULL,
    agreed_delivery_date text NOT NULL, agreed_payment_date text NOT NULL,
    created_at timestamp(3) NOT NULL DEFAULT now(), last_updated timestamp(3) NOT NULL
);
CREATE PROCEDURE bench_backlog(transactions int) LANGUAGE plpgsql AS $$
DECLARE base bigint;
BEGIN
  FOR i IN 0 .. transactions - 1 LOOP
    base := i::bigint * 60;
    INSERT INTO bench_sales
    SELECT base + g, g % 600 + 1, g % 20 + 1, g % 20 + 1, 1000 + (g * 7919) % 99000,
           2 + ((g * 31) % 200) / 100.0, g % 3 + 1,
           to_char(date '2026-01-01' + g % 30, 'YYYY-MM-DD'),
           to_char(date '2026-01-01' + g % 30 + 3, 'YYYY-MM-DD'), now(), now()
    FROM generate_series(1, 60) g;
    UPDATE bench_sales SET units_sold = units_sold + 1, last_updated = now()
    WHERE sales_order_id > base AND sales_order_id <= base + 30;
    DELETE FROM bench_sales WHERE sales_order_id > base + 50 AND sales_order_id <= base + 60;
    COMMIT;
  END LOOP;
END $$;
"""


def build_backlog(dsn: str, changes: int) -> str:
    """Create the table, the base slot and the backlog; returns the end LSN."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute("SELECT pg_create_logical_replication_slot('bench_base', 'wal2json')")
        started = time.perf_counter()
        conn.execute("CALL bench_backlog(%s)", (changes // 100,))
        print(f"backlog of {changes:,} changes built in {time.perf_counter() - started:.1f} s")
        for clone in ("bench_recv", "bench_recv_plain", "bench_pgcdc"):
            conn.execute("SELECT pg_copy_logical_replication_slot('bench_base', %s)", (clone,))
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        return str(row[0])


def time_recvlogical(dsn: str, endpos: str, slot: str, opts: dict[str, str]) -> float:
    """Seconds for pg_recvlogical to stream the backlog to /dev/null over TCP."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    args = [str(bindir() / "pg_recvlogical"), "--start", "--no-loop", "-f", "/dev/null"]
    args += ["-h", str(info["host"]), "-p", str(info["port"]), "-U", str(info["user"])]
    args += ["-d", str(info["dbname"]), "-S", slot, "-E", endpos]
    for name, value in opts.items():
        args += ["-o", f"{name}={value}"]
    env = {**os.environ, "PGPASSWORD": str(info.get("password", ""))}
    started = time.perf_counter()
    subprocess.run(args, env=env, check=True)
    return time.perf_counter() - started


def time_pgcdc(dsn: str) -> tuple[float, int]:
    """Seconds for pgcdc to drain the backlog into durable Parquet, and the rows it wrote."""
    folder = tempfile.mkdtemp(prefix="pgcdc-bench-raw-")
    try:
        raw = open_store(folder)
        started = time.perf_counter()
        result = drain(dsn, raw, CaptureOptions(slot="bench_pgcdc"))
        return time.perf_counter() - started, result.rows
    finally:
        shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--changes", type=int, default=1_000_000)
    args = parser.parse_args()
    with bench_database() as dsn:
        endpos = build_backlog(dsn, args.changes)
        plain = time_recvlogical(dsn, endpos, "bench_recv_plain", {"format-version": "2"})
        same = time_recvlogical(
            dsn, endpos, "bench_recv", plugin_options([], numeric_as_string=False)
        )
        seconds, rows = time_pgcdc(dsn)
    if rows != args.changes:
        raise SystemExit(f"pgcdc captured {rows:,} changes, expected {args.changes:,}")
    n = args.changes
    for label, secs in (
        ("pg_recvlogical, format-version 2 only", plain),
        ("pg_recvlogical, pgcdc's wal2json options", same),
        ("pgcdc capture -> durable Parquet", seconds),
    ):
        print(f"{label:<42} {n / secs:>10,.0f} changes/s ({secs:.1f} s)")
    print(f"ratio pgcdc / pg_recvlogical (format-version 2 only): {plain / seconds:.2f}")
    print(f"ratio pgcdc / pg_recvlogical (same options):          {same / seconds:.2f}")
    enforce([(RATIO, plain / seconds)])


if __name__ == "__main__":
    main()
