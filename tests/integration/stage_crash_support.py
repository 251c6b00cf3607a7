"""Pieces of the transform/load crash tests: a fixed multi-round input, its clean run, stage
processes that can be killed, and the checks that a crashed run ended where the clean one did.

The input is captured once: ``ROUNDS`` rounds of demo workload, each followed by a capture,
with a copy of the raw store taken after each capture (``raws[k - 1]`` is the raw store as it
was after capture ``k``). Transforming copy 1, then 2, … gives the same batches (same bounds,
same runs) whatever crashed in between, so a crashed run can be compared with a clean one
table by table, and its processed store object by object.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pgcdc.devtools.demo import run_workload
from pgcdc.schemas.processed import BATCH_PREFIX, Batch
from pgcdc.storage import Store, open_store
from pgcdc.storage.lake.processed import committed_batches
from pgcdc.transformer.model import load_model
from pgcdc.transformer.runner import transform
from tests.integration.capture_support import settings_env
from tests.integration.oracle import assert_warehouse_equals_oracle
from tests.integration.warehouse_support import Pipeline, demo_pipeline, warehouse_digest

ROUNDS = 6
TRANSACTIONS_PER_ROUND = 40
KINDS = ("duckdb", "postgres")


@dataclass
class Input:
    """The captured source: one raw store copy per round; the source ends as of the last."""

    dsn: str = field(repr=False)  # holds a password: kept out of assertion output
    slot: str
    raws: list[Store]


def capture_rounds(dsn: str, slot: str, folder: Path) -> Input:
    """Seed the demo source, then ``ROUNDS`` times: workload, capture, copy the raw store."""
    p = demo_pipeline(dsn, slot, folder, audit=True)
    raws = []
    for k in range(1, ROUNDS + 1):
        run_workload(
            dsn, rate=0, duration=3600, seed=100 + k, max_transactions=TRANSACTIONS_PER_ROUND
        )
        p.capture()
        shutil.copytree(folder / "raw", folder / f"raw_{k}")
        raws.append(open_store(str(folder / f"raw_{k}")))
    return Input(dsn, slot, raws)


@dataclass
class CleanRun:
    """The same input transformed and loaded without a crash: what every crashed run must
    end as. ``digests[kind][k]`` is the warehouse after batch ``k`` (``[0]``: before any)."""

    processed: Store
    digests: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    transform_seconds: list[float] = field(default_factory=list)
    load_seconds: dict[str, list[float]] = field(default_factory=dict)


def clean_run(source: Input, folder: Path, warehouses: dict[str, str]) -> CleanRun:
    """Transform each round's raw store once, load each batch into every warehouse."""
    clean = CleanRun(open_store(str(folder / "processed")))
    pipes = {kind: pipeline(source, clean.processed, uri) for kind, uri in warehouses.items()}
    for kind, p in pipes.items():
        assert loaded_run(p) == 0  # creates the (empty) load state, as any loader run does
        clean.digests[kind] = [warehouse_digest(p)]
        clean.load_seconds[kind] = [0.0]
    clean.transform_seconds.append(0.0)
    for k in range(1, ROUNDS + 1):
        began = time.monotonic()
        assert transform(source.raws[k - 1], clean.processed, slot=source.slot).run == k
        clean.transform_seconds.append(time.monotonic() - began)
        for kind, p in pipes.items():
            began = time.monotonic()
            assert p.load().batches == 1
            clean.load_seconds[kind].append(time.monotonic() - began)
            clean.digests[kind].append(warehouse_digest(p))
    return clean


def pipeline(source: Input, processed: Store, warehouse_uri: str) -> Pipeline:
    """A pipeline over the input's last raw store (transform with a round's copy instead)."""
    return Pipeline(source.dsn, source.slot, source.raws[-1], processed, warehouse_uri)


def stage_env(p: Pipeline, raw: Store) -> dict[str, str]:
    """The environment of a ``pgcdc transform``/``load`` process of this pipeline."""
    return settings_env(
        p.dsn,
        raw,
        p.slot,
        PGCDC_PROCESSED_URI=p.processed.uri,
        PGCDC_WAREHOUSE_URI=p.warehouse_uri,
    )


def loaded_run(p: Pipeline) -> int:
    """The newest batch the pipeline's warehouse holds."""
    with p.warehouse() as wh:
        return wh.loaded_run()


# --- the processed store -----------------------------------------------------------------

_DAY = re.compile(r"date=\d{4}-\d{2}-\d{2}")


def manifests(store: Store) -> dict[int, Batch]:
    """Every committed batch manifest, by run."""
    return {b.run: b for b in committed_batches(store)}


def listed_objects(store: Store) -> set[str]:
    """The objects some manifest lists (as outputs or as table state)."""
    listed: set[str] = set()
    for batch in manifests(store).values():
        listed.update(o for out in batch.outputs for o in out.objects)
        listed.update(o for prog in batch.tables.values() for o in prog.state)
    return listed


def orphans(store: Store) -> set[str]:
    """Data objects no manifest lists: what a run that died before its manifest left."""
    data = {k for k in store.list_keys() if not k.startswith(BATCH_PREFIX)}
    return data - listed_objects(store)


def hidden_leftovers(store: Store) -> list[str]:
    """Temporary files of local writes cut short (a kill between write and rename)."""
    root = Path(store.path(""))
    return sorted(str(path.relative_to(root)) for path in root.rglob(".*.tmp") if path.is_file())


def dangling(store: Store) -> set[str]:
    """Objects a committed manifest lists that do not exist (a manifest written too early)."""
    return {k for k in listed_objects(store) if not store.exists(k)}


def processed_contents(store: Store, up_to: int | None = None) -> dict[str, Any]:
    """Every visible object of the runs up to ``up_to`` (all when None) by key, the day
    folder masked (so a run crossing midnight still compares): manifests as JSON without
    their creation time, Parquet objects as tables."""
    contents: dict[str, Any] = {}
    for key in store.list_keys():
        if up_to is not None and _run_of(key) > up_to:
            continue
        if key.endswith(".batch.json"):
            doc = json.loads(_DAY.sub("date=*", store.read_bytes(key).decode()))
            doc.pop("created_at")
            contents[key] = doc
        else:
            contents[_DAY.sub("date=*", key)] = store.read_parquet(key)
    return contents


def _run_of(key: str) -> int:
    """The run that wrote an object (its name starts with the 10-digit run)."""
    return int(key.rsplit("/", 1)[-1][:10])


def assert_processed_equal(store: Store, clean: Store, up_to: int | None = None) -> None:
    """``store`` holds the objects of ``clean``'s runs up to ``up_to`` (all when None) under
    the same names with the same content, and no other object."""
    got, want = processed_contents(store), processed_contents(clean, up_to)
    assert sorted(got) == sorted(want), "the processed store holds other objects"
    for key, value in want.items():
        same = value == got[key] if isinstance(value, dict) else value.equals(got[key])
        assert same, f"{key} differs from the clean run's"


def batch_objects(store: Store, run: int) -> set[str]:
    """The data objects a run's manifest lists, the day folder masked."""
    batch = manifests(store)[run]
    keys = {o for out in batch.outputs for o in out.objects}
    keys |= {o for prog in batch.tables.values() for o in prog.state if f"{run:010d}-" in o}
    return {_DAY.sub("date=*", k) for k in keys}


def masked(keys: set[str]) -> set[str]:
    """Keys with the day folder masked."""
    return {_DAY.sub("date=*", k) for k in keys}


# --- the final check ---------------------------------------------------------------------

# Each fact's current view as the source holds it (columns in the view's order after the id).
CURRENT_FROM_SOURCE = {
    "fact_sales_order": (
        "sales_order_id, created_date, created_time, last_updated_date, last_updated_time, "
        "sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id, "
        "agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id",
        "SELECT sales_order_id, created_at::date, created_at::time, last_updated::date, "
        "last_updated::time, staff_id, counterparty_id, units_sold, unit_price, currency_id, "
        "design_id, agreed_payment_date::date, agreed_delivery_date::date, "
        "agreed_delivery_location_id FROM sales_order",
    ),
    "fact_purchase_order": (
        "purchase_order_id, created_date, created_time, last_updated_date, last_updated_time, "
        "staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id, "
        "agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id",
        "SELECT purchase_order_id, created_at::date, created_at::time, last_updated::date, "
        "last_updated::time, staff_id, counterparty_id, item_code, item_quantity, "
        "item_unit_price, currency_id, agreed_delivery_date::date, agreed_payment_date::date, "
        "agreed_delivery_location_id FROM purchase_order",
    ),
    "fact_payment": (
        "payment_id, created_date, created_time, last_updated_date, last_updated_time, "
        "transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid, "
        "payment_date",
        "SELECT payment_id, created_at::date, created_at::time, last_updated::date, "
        "last_updated::time, transaction_id, counterparty_id, payment_amount, currency_id, "
        "payment_type_id, paid, payment_date::date FROM payment",
    ),
}


def duplicate_versions(p: Pipeline) -> dict[str, list[tuple[Any, ...]]]:
    """(entity id, source_lsn, source_seq) held more than once, per fact table of the model."""
    found = {}
    for target in load_model():
        if target.kind != "fact" or not target.entity:
            continue
        found[target.name] = p.sql(
            f"SELECT {target.entity}, source_lsn, source_seq, count(*) FROM {target.name} "
            "GROUP BY 1, 2, 3 HAVING count(*) > 1"
        )
    return found


def assert_final_warehouse(p: Pipeline, clean_digest: dict[str, str]) -> None:
    """The one final check of a crashed run: every table and row equals the clean run's and
    the independent oracle's, no fact version is held twice, and each fact's current view
    equals its source table."""
    assert warehouse_digest(p) == clean_digest, "the warehouse differs from the clean run's"
    assert_warehouse_equals_oracle(p.dsn, p.sql)
    dups = duplicate_versions(p)
    assert set(dups) == set(CURRENT_FROM_SOURCE) and not any(dups.values()), dups
    for fact, (columns, source_sql) in CURRENT_FROM_SOURCE.items():
        want = {r[0]: r for r in p.source(source_sql)}
        got = {r[0]: r for r in p.sql(f"SELECT {columns} FROM {fact}_current")}
        assert len(got) == len(want), f"{fact}_current: {len(got)} rows, source {len(want)}"
        assert got == want, f"{fact}_current differs from the source"


# --- killable stage processes ------------------------------------------------------------


class StageProcess:
    """``pgcdc transform`` or ``pgcdc load`` in a process of its own; its JSON log lines are
    read as they come, so a test can wait for the stage to start its work and kill it."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pgcdc.pipeline.cli", command, "--log-format", "json"],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.messages: list[str] = []
        self.raw_lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.raw_lines.append(line)
                if line.startswith("{"):
                    self.messages.append(str(json.loads(line).get("message", "")))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, marker: str, timeout: float = 120) -> bool:
        """Wait until a log message starts with ``marker`` (True) or the process ended."""
        with self._changed:
            return self._changed.wait_for(
                lambda: (
                    any(m.startswith(marker) for m in self.messages)
                    or (not self._reader.is_alive())
                ),
                timeout,
            ) and any(m.startswith(marker) for m in self.messages)

    def kill(self) -> bool:
        """SIGKILL the process; True when it was still running (not exited by itself)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        self._close()
        return self.proc.returncode == -signal.SIGKILL

    def finish(self) -> int:
        """Wait for the process to end by itself; its exit code."""
        code = self.proc.wait(timeout=600)
        self._close()
        return code

    def _close(self) -> None:
        self._reader.join(timeout=60)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


def open_write_transactions(conn: psycopg.Connection[Any]) -> int:
    """Transactions that have written and not ended in the connection's PostgreSQL database,
    other than its own (the loader's, when it is in the middle of a batch)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
    ).fetchone()
    return int(row[0]) if row else 0
