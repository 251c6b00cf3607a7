"""Freshness: source commit → warehouse-visible latency of ``run --follow`` under the demo load.

    python -m bench.freshness [--seconds 120] [--every 2] [--rate 20] [--scale 1]

On a throwaway PostgreSQL: the demo database (``--scale``), seeded after the slot exists,
and a second database as the PostgreSQL warehouse. ``pgcdc.pipeline.service.run_follow`` runs
capture → transform → load every ``--every`` seconds in a thread of its own (local raw and
processed stores). Once the seed is loaded, the demo workload (``--rate`` transactions/s)
runs for ``--seconds`` and, beside it, a probe commits about once a second an update of a
sales order's ``units_sold`` to a unique marker, noting the wall-clock time right after
COMMIT returns. A poller thread opens a new read-only connection to the warehouse every
``--poll`` seconds and notes when each marker first appears in ``fact_sales_order`` (every
version is kept, so a later change to the same order does not hide it). The latency of a
probe is first-seen minus commit; it errs late by at most one poll interval.

Prints p50/p95/max, the number of probes, the interval, and the comparison to the limit
(p95 ≤ 10 s): exits non-zero above it, or when a probe never became visible.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from bench.server import bench_database, database
from bench.verdict import Goal, enforce
from pgcdc.devtools.demo import init_demo, run_workload
from pgcdc.pipeline import service
from pgcdc.schemas.settings import Settings

SLOT = "bench_fresh"
MARKER = 1_000_000  # units_sold of probe n is MARKER + n: no workload order is that large
TARGET_P95 = 10.0


def warehouse_database(source_dsn: str) -> contextlib.AbstractContextManager[str]:
    """A second database on the source's server for the PostgreSQL warehouse."""
    return database(source_dsn, "bench_fresh_wh")


class Probes:
    """Marker commits in the source and their first sighting in the warehouse."""

    def __init__(self, source: str, warehouse: str) -> None:
        self.source = source
        self.warehouse = warehouse
        self.committed: dict[int, float] = {}
        self.seen: dict[int, float] = {}
        self.lock = threading.Lock()

    def commit_loop(self, stop: threading.Event, seed: int) -> None:
        """About once a second (jittered, so it does not lock onto the run interval)."""
        rng = random.Random(seed)
        with psycopg.connect(self.source, autocommit=True) as conn:
            orders = [r[0] for r in conn.execute("SELECT sales_order_id FROM sales_order")]
            n = 0
            while not stop.wait(rng.uniform(0.5, 1.5)):
                n += 1
                conn.execute(
                    "UPDATE sales_order SET units_sold = %s, last_updated = now() "
                    "WHERE sales_order_id = %s",
                    (MARKER + n, rng.choice(orders)),
                )
                with self.lock:
                    self.committed[n] = time.time()

    def poll_loop(self, stop: threading.Event, every: float) -> None:
        """A new read-only connection each time: a reader's view, not the loader's."""
        while not stop.wait(every):
            try:
                with psycopg.connect(
                    self.warehouse, options="-c default_transaction_read_only=on"
                ) as conn:
                    rows = conn.execute(
                        "SELECT DISTINCT units_sold FROM fact_sales_order WHERE units_sold > %s",
                        (MARKER,),
                    ).fetchall()
            except psycopg.errors.UndefinedTable:
                continue
            now = time.time()
            with self.lock:
                for (units,) in rows:
                    self.seen.setdefault(int(units) - MARKER, now)

    def pending(self) -> int:
        """Committed probes not yet seen."""
        with self.lock:
            return len(set(self.committed) - set(self.seen))

    def latencies(self) -> list[float]:
        """Seconds from commit to first sighting, of every probe seen."""
        with self.lock:
            return sorted(self.seen[n] - t for n, t in self.committed.items() if n in self.seen)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (inclusive method) of sorted ``values``."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="workload duration")
    parser.add_argument("--every", type=float, default=2.0, help="run --follow interval")
    parser.add_argument("--rate", type=float, default=20.0, help="workload transactions/s")
    parser.add_argument("--scale", type=float, default=1.0, help="demo database scale")
    parser.add_argument("--poll", type=float, default=0.2, help="warehouse poll interval")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_database("bench_fresh") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (SLOT,))
        init_demo(dsn, scale=args.scale)
        with warehouse_database(dsn) as warehouse:
            measure(dsn, warehouse, Path(tmp), args)


def measure(dsn: str, warehouse: str, folder: Path, args: argparse.Namespace) -> None:
    """Follow, load the seed, run the workload with probes, wait for the last probe, print."""
    settings = Settings(
        source_dsn=dsn,
        raw_uri=str(folder / "raw"),
        processed_uri=str(folder / "processed"),
        warehouse_uri=warehouse,
        slot=SLOT,
    )
    runs: list[list[str]] = []
    stop_follow, stop_probe, stop_poll = threading.Event(), threading.Event(), threading.Event()
    follower = threading.Thread(
        target=service.run_follow,
        args=(settings, service.capture_options(settings)),
        kwargs={"every": args.every, "stop": stop_follow, "on_result": runs.append},
    )
    follower.start()
    while not runs and follower.is_alive():
        time.sleep(0.1)
    print(f"seed loaded: {runs[0][-1] if runs else 'run loop ended'}", flush=True)
    probes = Probes(dsn, warehouse)
    poller = threading.Thread(target=probes.poll_loop, args=(stop_poll, args.poll))
    prober = threading.Thread(target=probes.commit_loop, args=(stop_probe, 11))
    poller.start()
    prober.start()
    started = len(runs)
    summary = run_workload(dsn, rate=args.rate, duration=args.seconds, seed=3)
    print(summary.describe(), flush=True)
    stop_probe.set()
    prober.join()
    deadline = time.monotonic() + 120  # a probe not seen by then is reported as never seen
    while probes.pending() and time.monotonic() < deadline:
        time.sleep(0.2)
    stop_poll.set()
    stop_follow.set()
    poller.join()
    follower.join()
    report(probes, args, len(runs) - started)


def report(probes: Probes, args: argparse.Namespace, turns: int) -> None:
    """Print the latency figures and compare p95 to the target."""
    lat = probes.latencies()
    missing = probes.pending()
    if not lat:
        raise SystemExit("FAILED: no probe became visible")
    p50, p95 = percentile(lat, 0.50), percentile(lat, 0.95)
    print(f"run --follow every {args.every:g} s, {turns} turns during the measurement")
    print(f"probes: {len(lat)} seen, {missing} never seen; poll every {args.poll:g} s")
    print(f"commit → visible: p50 {p50:.2f} s, p95 {p95:.2f} s, max {lat[-1]:.2f} s")
    p95_goal = Goal("p95 commit → visible", TARGET_P95, higher_is_better=False, unit=" s")
    never = [f"{missing} probe(s) never became visible"] if missing else []
    enforce([(p95_goal, p95)], failures=never)


if __name__ == "__main__":
    main()
