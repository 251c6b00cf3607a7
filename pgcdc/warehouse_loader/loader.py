"""Applying the processed store's batches to a warehouse, in order, each exactly once."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from pgcdc.schemas.errors import LoadError
from pgcdc.schemas.faults import Point, checkpoint
from pgcdc.schemas.processed import Batch, Output
from pgcdc.schemas.wording import counted
from pgcdc.storage import Store
from pgcdc.storage.lake.processed import batch_keys, read_batch
from pgcdc.warehouse_loader.warehouse import Warehouse

log = logging.getLogger("pgcdc.loader")


@dataclass
class LoadResult:
    """What a load did."""

    batches: int = 0
    rows: int = 0
    audit_failures: int = 0
    seconds: float = 0.0
    loaded_up_to: int = 0
    problems: list[tuple[str, object, str]] = field(default_factory=list)
    refused: list[LoadError] = field(default_factory=list)
    """Outputs in ``pgcdc_load_quarantine`` after this load (refused or held)."""

    def describe(self) -> str:
        """One line for a terminal."""
        held = (
            f", {counted(len(self.refused), 'table batch', 'table batches')} quarantined"
            if self.refused
            else ""
        )
        return (
            f"load: {counted(self.batches, 'batch', 'batches')}, {counted(self.rows, 'row')}, "
            f"up to batch {self.loaded_up_to}, "
            f"{counted(self.audit_failures, 'audit failure')}{held}, in {self.seconds:.2f} s"
        )


def is_postgres_uri(uri: str) -> bool:
    """Whether a warehouse URI names PostgreSQL (``postgresql://…`` or a libpq key=value DSN);
    anything else is a DuckDB file (see :func:`duckdb_path`)."""
    return uri.startswith(("postgresql://", "postgres://")) or "dbname=" in uri


def duckdb_path(uri: str) -> Path:
    """The DuckDB file a (non-PostgreSQL) warehouse URI names: ``duckdb://`` optional, ``~``
    expanded."""
    return Path(uri.removeprefix("duckdb://")).expanduser()


def open_warehouse(uri: str) -> Warehouse:
    """The warehouse a URI names: ``postgresql://…`` (or a libpq DSN) or a DuckDB file."""
    if is_postgres_uri(uri):
        from pgcdc.warehouse_loader.postgres_warehouse import PostgresWarehouse

        return PostgresWarehouse(uri)
    from pgcdc.warehouse_loader.duckdb_warehouse import DuckDBWarehouse

    return DuckDBWarehouse(str(duckdb_path(uri)))


def load(processed: Store, warehouse: Warehouse) -> LoadResult:
    """Retry the quarantined outputs, then apply every batch not yet in the warehouse, one
    transaction each, then audit. An output the warehouse refuses is quarantined and the
    rest of its batch loads (see :mod:`pgcdc.warehouse_loader.warehouse`).

    Idempotent: the warehouse records each batch it holds in the same transaction.
    """
    began = time.monotonic()
    result = LoadResult(loaded_up_to=warehouse.loaded_run())
    still = warehouse.retry_quarantined(lambda output: _read_output(processed, output))
    result.refused += still
    for key in batch_keys(processed, result.loaded_up_to):
        batch = read_batch(processed, key)
        data = [(o, _read_output(processed, o)) for o in batch.outputs]
        log.info("load: applying batch %d", batch.run, extra={"run": batch.run})
        refused = warehouse.apply_batch(batch, data)
        if refused is not None:
            checkpoint(Point.LOAD_AFTER_COMMIT)
            result.batches += 1
            result.refused += refused
            failed = {e.table for e in refused}
            loaded = [(o, t) for o, t in data if warehouse.target_name(o) not in failed]
            result.rows += sum(t.num_rows for _, t in loaded)
            result.problems += warehouse.audit(loaded)
        result.loaded_up_to = batch.run
    result.audit_failures = len(result.problems)
    result.seconds = time.monotonic() - began
    log.info(result.describe(), extra={"batches": result.batches, "rows": result.rows})
    return result


def _read_output(processed: Store, output: Output) -> pa.Table:
    tables = [processed.read_parquet(k) for k in output.objects]
    return pa.concat_tables(tables, promote_options="permissive")


__all__ = ["Batch", "LoadResult", "load", "open_warehouse"]
