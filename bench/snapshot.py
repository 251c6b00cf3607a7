"""Snapshot throughput against ``COPY … TO STDOUT (FORMAT binary)`` on the same table.

    python -m bench.snapshot [--rows 5000000] [--workers 2]

Builds a sales_order-shaped table (integers, a numeric(10,2), text dates, timestamps) of
``--rows`` rows, then in one run times (a) ``psql`` running ``COPY (FORMAT binary)`` to
/dev/null, the baseline, and (b) ``pgcdc snapshot`` into a local raw store (typed zstd
Parquet), in a process of its own whose peak RSS is read from the kernel; each twice, the
faster run counts (the peak RSS is the larger of the two). Then it splits the
same rows over four tables and times the snapshot with 1 worker and with ``--workers``.
Exits non-zero when the ratio to COPY binary is below its floor (0.5; the aim is 0.75) or
the peak RSS passes ``--limit-mb``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import psycopg

from bench.server import bench_database
from bench.verdict import Goal, enforce
from pgcdc.devtools.localpg import bindir

RATIO = Goal("ratio pgcdc snapshot / COPY binary", floor=0.5, aim=0.75)
COLUMNS = """
    sales_order_id bigint PRIMARY KEY, created_at timestamp(3) NOT NULL,
    last_updated timestamp(3) NOT NULL, design_id int NOT NULL, staff_id int NOT NULL,
    counterparty_id int NOT NULL, units_sold int NOT NULL, unit_price numeric(10,2) NOT NULL,
    currency_id int NOT NULL, agreed_delivery_date text NOT NULL,
    agreed_payment_date text NOT NULL, agreed_delivery_location_id int NOT NULL
"""
FILL = """
INSERT INTO {table} SELECT g, now() - g * interval '1 second', now(), g %% 600 + 1, g %% 20 + 1,
    g %% 20 + 1, 1000 + (g * 7919) %% 99000, 2 + ((g * 31) %% 200) / 100.0, g %% 3 + 1,
    to_char(date '2024-01-01' + (g %% 900)::int, 'YYYY-MM-DD'),
    to_char(date '2024-01-05' + (g %% 900)::int, 'YYYY-MM-DD'), g %% 30 + 1
FROM generate_series(%s::bigint, %s::bigint) g
"""


def build(dsn: str, rows: int) -> None:
    """One table of ``rows`` rows and four tables of a quarter each."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE big ({COLUMNS})")
        conn.execute(FILL.format(table="big"), (1, rows))
        for i in range(4):
            conn.execute(f"CREATE TABLE part{i} ({COLUMNS})")
            quarter = rows // 4
            conn.execute(FILL.format(table=f"part{i}"), (1, quarter))
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")  # no background flush of the build during the timings


def copy_binary(dsn: str) -> float:
    """Seconds for psql to COPY the big table in binary to /dev/null."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run(
            [str(bindir() / "psql"), dsn, "-c", "COPY big TO STDOUT (FORMAT binary)"],
            stdout=sink,
            check=True,
        )
    return time.perf_counter() - started


def pgcdc_snapshot(dsn: str, slot: str, tables: str, workers: int) -> tuple[float, int]:
    """Seconds and peak RSS (bytes) of `pgcdc snapshot` in its own process."""
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "PGCDC_SOURCE_DSN": dsn,
            "PGCDC_RAW_URI": f"{folder}/raw",
            "PGCDC_SLOT": slot,
            "PGCDC_TABLES": tables,
        }
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "pgcdc.pipeline.cli", "snapshot", "--workers", str(workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"pgcdc snapshot failed ({status})")
    return seconds, usage.ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit-mb", type=float, default=500.0)
    args = parser.parse_args()
    mb = 1024 * 1024
    with bench_database() as dsn:
        build(dsn, args.rows)
        # best of two for both, so neither pays for a cold cache alone
        base = min(copy_binary(dsn), copy_binary(dsn))
        runs = [pgcdc_snapshot(dsn, f"bench_one_{i}", "public.big", args.workers) for i in (1, 2)]
        ours, rss = min(r[0] for r in runs), max(r[1] for r in runs)
        serial, _ = pgcdc_snapshot(dsn, "bench_serial", "public.part*", 1)
        parallel, _ = pgcdc_snapshot(dsn, "bench_parallel", "public.part*", args.workers)
    n = args.rows
    print(f"COPY (FORMAT binary) -> /dev/null:   {n / base:>12,.0f} rows/s ({base:.1f} s)")
    print(f"pgcdc snapshot -> typed Parquet:      {n / ours:>12,.0f} rows/s ({ours:.1f} s)")
    print(
        f"4 tables, 1 worker: {serial:.1f} s; {args.workers} workers: {parallel:.1f} s; "
        f"speed-up {serial / parallel:.2f}x"
    )
    peak = Goal("peak RSS of pgcdc snapshot", args.limit_mb, higher_is_better=False, unit=" MB")
    enforce([(RATIO, base / ours), (peak, rss / mb)])


if __name__ == "__main__":
    main()
