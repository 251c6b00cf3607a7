"""The embedded warehouse: a DuckDB file."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
import tenacity

from pgcdc.schemas.errors import TransientError
from pgcdc.schemas.tables import quote_ident
from pgcdc.warehouse_loader.warehouse import Warehouse


class DuckDBWarehouse(Warehouse):
    """A DuckDB database file (created with its folder on first use)."""

    # A DuckDB file has one writer process at a time, and a reader (pgcdc query, the
    # dashboard) holds it for a moment: wait that out, then give up as a transient error.
    LOCK_WAIT_SECONDS = 10.0

    def __init__(self, path: str) -> None:
        file = Path(path).expanduser()
        file.parent.mkdir(parents=True, exist_ok=True)
        self._con = connect_file(file, wait=self.LOCK_WAIT_SECONDS)
        self._staged: list[str] = []

    def quote(self, name: str) -> str:
        """Quote one identifier (:func:`pgcdc.schemas.tables.quote_ident`)."""
        return quote_ident(name)

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Run one statement."""
        cur = self._con.execute(sql, list(params))
        return cur.fetchall() if cur.description else []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN … COMMIT (ROLLBACK on error); staged relations are dropped after."""
        self._con.begin()
        try:
            yield
        except BaseException:
            self._con.rollback()
            raise
        else:
            self._con.commit()
        finally:
            for name in self._staged:
                self._con.unregister(name)
            self._staged.clear()

    def stage(self, name: str, rows: pa.Table) -> str:
        """Register the Arrow rows as a view (no copy)."""
        self._con.register(name, rows)
        self._staged.append(name)
        return quote_ident(name)

    def column_types(self, staging: str, rows: pa.Table) -> list[tuple[str, str]]:
        """DuckDB's own types of the staged columns."""
        described = self._con.execute(f"DESCRIBE SELECT * FROM {staging}").fetchall()
        return [(str(r[0]), str(r[1])) for r in described]

    def existing_relations(self) -> set[str]:
        """Tables and views of the main schema."""
        rows = self._con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
        return {str(r[0]) for r in rows}

    def close(self) -> None:
        """Close the file."""
        self._con.close()

    def driver_error(self, exc: Exception) -> tuple[bool, str] | None:
        """DuckDB's errors: a conflict, I/O, memory or an interrupt are transient; the rest
        (constraint, conversion, catalog, binder …) are the warehouse refusing the rows."""
        if not isinstance(exc, duckdb.Error):
            return None
        transient = isinstance(exc, _TRANSIENT)
        line = (str(exc).strip().splitlines() or [""])[0]
        return transient, f"{line} ({type(exc).__name__})"


_TRANSIENT = (
    duckdb.IOException,
    duckdb.OutOfMemoryException,
    duckdb.InterruptException,
    duckdb.TransactionException,
)


def is_lock_error(exc: BaseException) -> bool:
    """Whether DuckDB refused a file because another process holds its lock."""
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def connect_file(file: Path, *, wait: float, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file, retrying while another process holds its lock (one writer, or
    readers, at a time); a TransientError naming the file after ``wait`` seconds."""
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_lock_error),
        stop=tenacity.stop_after_delay(wait),
        wait=tenacity.wait_exponential(multiplier=0.05, max=1.0),
        reraise=True,
    )
    try:
        return retrying(duckdb.connect, str(file), read_only=read_only)
    except duckdb.IOException as exc:
        if not is_lock_error(exc):
            raise
        held = (
            "is locked by a writer (a load is running?)"
            if read_only
            else "is held by another process (a query, the dashboard or another load)"
        )
        raise TransientError(f"the warehouse {file} {held} for more than {wait:g} s") from None
