"""``run_workload``: live OLTP traffic on the demo database, like the totesys application's.

A weighted mix of small transactions (orders placed, paid, amended, cancelled; reference
rows edited) and now and then a large one, at a steady rate. Every transaction keeps the
foreign keys intact; the sequence of choices is fixed by the seed.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from pgcdc.devtools.demo import edits, orders
from pgcdc.devtools.demo.catalog import TABLE_NAMES
from pgcdc.devtools.demo.changes import Changes
from pgcdc.devtools.demo.connection import connect
from pgcdc.devtools.demo.install import Connection, existing_objects
from pgcdc.schemas.errors import ConfigurationError

Operation = Callable[[Connection, random.Random], Changes]

# Operation name → (operation, relative weight). Updates and deletes are far more frequent
# than in the original application so that a short demo exercises every change kind.
MIX: dict[str, tuple[Operation, int]] = {
    "new_sale": (orders.new_sale, 30),
    "pay": (orders.pay, 26),
    "amend_sale": (orders.amend_sale, 10),
    "new_purchase": (orders.new_purchase, 8),
    "cancel_sale": (orders.cancel_sale, 6),
    "move_staff": (edits.move_staff, 4),
    "edit_address": (edits.edit_address, 4),
    "rename_design": (edits.rename_design, 4),
    "edit_counterparty": (edits.edit_counterparty, 4),
    "new_design": (edits.new_design, 2),
    "bulk_sales": (orders.bulk_sales, 2),
}
PROGRESS_EVERY = 5.0  # seconds between progress lines


@dataclass(frozen=True, slots=True)
class WorkloadSummary:
    """What :func:`run_workload` did: rows changed per table, transactions, time taken."""

    inserts: Mapping[str, int] = field(default_factory=dict)
    updates: Mapping[str, int] = field(default_factory=dict)
    deletes: Mapping[str, int] = field(default_factory=dict)
    transactions: int = 0
    seconds: float = 0.0

    @classmethod
    def of(cls, changes: Changes, *, transactions: int, seconds: float) -> WorkloadSummary:
        """The summary of ``changes`` made by ``transactions`` transactions."""
        return cls(
            inserts=changes.by_table("insert"),
            updates=changes.by_table("update"),
            deletes=changes.by_table("delete"),
            transactions=transactions,
            seconds=seconds,
        )

    @property
    def rate(self) -> float:
        """Transactions committed per second."""
        return self.transactions / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        """One line for a terminal."""
        return (
            f"workload: {self.transactions:,} transactions in {self.seconds:.1f} s "
            f"({self.rate:.1f}/s): {sum(self.inserts.values()):,} inserts, "
            f"{sum(self.updates.values()):,} updates, {sum(self.deletes.values()):,} deletes"
        )


def choose_operations(seed: int) -> Iterator[str]:
    """The endless sequence of operation names a workload with ``seed`` runs."""
    rng = random.Random(seed)
    names = list(MIX)
    weights = [weight for _, weight in MIX.values()]
    while True:
        yield rng.choices(names, weights)[0]


def run_workload(
    dsn: str,
    *,
    rate: float = 20.0,
    duration: float = 30.0,
    seed: int = 7,
    stop: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
    max_transactions: int | None = None,
) -> WorkloadSummary:
    """Run the demo workload on ``dsn`` until ``duration`` seconds pass, ``stop`` is set or
    ``max_transactions`` transactions have run, whichever comes first.

    ``rate`` is in transactions per second; zero or less means as fast as possible.
    Each operation is one database transaction; ``transactions`` in the summary counts
    those that changed at least one row. The demo schema must exist (:func:`init_demo`).
    """
    _validate(rate, duration, max_transactions)
    changes = Changes()
    committed = 0
    with connect(dsn) as conn:
        _require_schema(conn)
        pacer = _Pacer(rate, duration, stop)
        reporter = _Reporter(progress)
        for index, name in enumerate(choose_operations(seed)):
            if index == max_transactions or not pacer.wait_turn(index):
                break
            with conn.transaction():
                done = MIX[name][0](conn, random.Random(f"{seed}/{index}"))
            if done:
                changes.merge(done)
                committed += 1
            reporter.report(committed, pacer.elapsed())
        seconds = pacer.elapsed()
    return WorkloadSummary.of(changes, transactions=committed, seconds=seconds)


def _validate(rate: float, duration: float, max_transactions: int | None) -> None:
    if math.isnan(rate):
        raise ConfigurationError("workload rate must be a number")
    if not duration >= 0:
        raise ConfigurationError(f"workload duration must be zero or more, not {duration}")
    if max_transactions is not None and max_transactions < 0:
        raise ConfigurationError(f"max_transactions must be zero or more, not {max_transactions}")


def _require_schema(conn: Connection) -> None:
    missing = sorted(set(TABLE_NAMES) - set(existing_objects(conn)))
    if missing:
        raise ConfigurationError(
            f"the demo tables are missing ({', '.join(missing)}): run `pgcdc demo init` first"
        )


class _Pacer:
    """When the next transaction is due, from a fixed start so that delays do not add up."""

    def __init__(self, rate: float, duration: float, stop: threading.Event | None) -> None:
        self._interval = 1 / rate if rate > 0 else 0.0
        self._start = time.monotonic()
        self._deadline = self._start + duration
        self._stop = stop

    def elapsed(self) -> float:
        """Seconds since the workload started."""
        return time.monotonic() - self._start

    def wait_turn(self, index: int) -> bool:
        """Wait until transaction ``index`` is due; False if the workload should end instead."""
        if self._stop is not None and self._stop.is_set():
            return False
        due = self._start + index * self._interval
        if due >= self._deadline:
            return False
        delay = due - time.monotonic()
        if delay > 0 and self._sleep(delay):
            return False
        return time.monotonic() < self._deadline

    def _sleep(self, seconds: float) -> bool:
        """Sleep, waking early if told to stop; True if told to stop."""
        if self._stop is None:
            time.sleep(seconds)
            return False
        return self._stop.wait(seconds)


class _Reporter:
    """Progress lines now and then, not once per transaction."""

    def __init__(self, progress: Callable[[str], None] | None) -> None:
        self._progress = progress
        self._next = PROGRESS_EVERY

    def report(self, committed: int, elapsed: float) -> None:
        if self._progress is None or elapsed < self._next:
            return
        self._next = elapsed + PROGRESS_EVERY
        self._progress(
            f"workload: {committed:,} transactions in {elapsed:.0f} s ({committed / elapsed:.1f}/s)"
        )
