"""Peak memory of capturing one transaction far larger than a batch.

    python -m bench.capture_memory [--rows 1000000] [--limit-mb 300]

Inserts ``--rows`` rows in ONE transaction behind a wal2json slot, then runs
``pgcdc capture`` in a process of its own and reads that process's peak resident set size
from the kernel (``wait4``'s rusage). The baseline is the same command on an empty slot in the
same run (the interpreter with pgcdc's libraries loaded): the difference is what the
transaction itself costs. Exits non-zero when the peak passes ``--limit-mb`` (the limit;
no aim is set) or the transaction was not split into several files.
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
from pgcdc.schemas.tables import TableName
from pgcdc.storage import open_store
from pgcdc.storage.lake.raw import table_objects

TABLE = """
CREATE TABLE big_txn (
    sales_order_id bigint PRIMARY KEY, design_id int NOT NULL, staff_id int NOT NULL,
    units_sold int NOT NULL, unit_price numeric(10,2) NOT NULL,
    agreed_delivery_date text NOT NULL, created_at timestamp(3) NOT NULL DEFAULT now()
)
"""


def run_capture(dsn: str, raw_uri: str, slot: str) -> tuple[int, float]:
    """Run `pgcdc capture`; returns (peak RSS in bytes, seconds)."""
    env = {**os.environ, "PGCDC_SOURCE_DSN": dsn, "PGCDC_RAW_URI": raw_uri, "PGCDC_SLOT": slot}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgcdc.pipeline.cli", "capture", "--log-format", "json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"pgcdc capture failed with status {status}")
    return usage.ru_maxrss * 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--limit-mb", type=float, default=300.0)
    args = parser.parse_args()
    with bench_database() as dsn, tempfile.TemporaryDirectory() as folder:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(TABLE)
            for slot in ("empty", "big"):
                conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot,))
            conn.execute(
                "INSERT INTO big_txn SELECT g, g %% 600, g %% 20, 1000 + g %% 99000, "
                "2 + (g %% 200) / 100.0, '2026-01-01', now() FROM generate_series(1, %s) g",
                (args.rows,),
            )
            conn.execute("SELECT pg_drop_replication_slot('empty')")
            conn.execute("SELECT pg_create_logical_replication_slot('empty', 'wal2json')")
        base_rss, _ = run_capture(dsn, f"{folder}/empty", "empty")
        rss, seconds = run_capture(dsn, f"{folder}/big", "big")
        files = table_objects(open_store(f"{folder}/big"), TableName("public", "big_txn"))
    mb = 1024 * 1024
    print(
        f"one transaction of {args.rows:,} rows captured in {seconds:.1f} s into {len(files)} files"
    )
    print(f"peak RSS, empty slot (baseline): {base_rss / mb:7.1f} MB")
    peak = Goal(
        f"peak RSS, {args.rows:,}-row transaction",
        floor=args.limit_mb,
        higher_is_better=False,
        unit=" MB",
    )
    split = [] if len(files) >= 2 else ["the transaction was not split into several files"]
    enforce([(peak, rss / mb)], failures=split)


if __name__ == "__main__":
    main()
