"""The warehouse opened read-only for the read side: one rule for which kind a URI names, one
mapping of the drivers' errors.

A DuckDB file admits one read-write process or any number of read-only ones, never both:
while a load holds the file a reader cannot open it, and while a reader holds it the loader
cannot. So readers open the file read-only, query and close it at once, waiting out a
writer's lock briefly; the PostgreSQL warehouse is read in a session whose transactions are
read-only. ``pgcdc query`` attaches the file to its own DuckDB session instead of opening a
connection (:func:`attach_read_only`), with the same lock rule and message.

Errors, whichever the warehouse: a DuckDB file not created yet is :class:`WarehouseMissingError`;
a file that cannot be opened, or a server that cannot be reached, a :class:`TransientError`
naming the file or the redacted URI (a writer's lock says so); a statement that fails a
:class:`WarehouseQueryError` with the driver's first line. No message holds a password.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import psycopg

from pgcdc.cdc_reader.source import connection_reason, secrets_of
from pgcdc.schemas.errors import PgcdcError, TransientError
from pgcdc.schemas.settings import redact_uri
from pgcdc.warehouse_loader.duckdb_warehouse import connect_file, is_lock_error
from pgcdc.warehouse_loader.loader import duckdb_path, is_postgres_uri

LOCK_WAIT_SECONDS = 2.0
Rows = tuple[list[str], list[tuple[Any, ...]]]


class WarehouseMissingError(PgcdcError):
    """The DuckDB warehouse file does not exist yet (nothing was loaded): the page and
    ``pgcdc status`` say so; no job raises it, so it is neither terminal nor transient."""


class WarehouseQueryError(PgcdcError):
    """A statement over the warehouse failed (e.g. a table the loader has not created yet)."""


def duckdb_file(uri: str) -> Path | None:
    """The DuckDB file ``uri`` names, or None when it names PostgreSQL (the loader's rule)."""
    return None if is_postgres_uri(uri) else duckdb_path(uri)


@dataclass(frozen=True)
class Reader:
    """An open read-only warehouse: run a statement, get its column names and rows."""

    execute: Callable[[str, Sequence[Any]], Rows]
    placeholder: str  # how a statement writes a parameter: ``?`` (DuckDB) or ``%s``

    def query(self, text: str, params: Sequence[Any] = ()) -> Rows:
        """Column names and rows of one statement; :class:`WarehouseQueryError` if it fails."""
        return self.execute(text, params)

    def has_column(self, table: str, column: str | None = None) -> bool:
        """Whether ``table`` (of the current schema) exists, and has ``column`` if given."""
        p = self.placeholder
        text = (
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
            f"current_schema() AND table_name = {p}"
        )
        params: list[Any] = [table]
        if column is not None:
            text += f" AND column_name = {p}"
            params.append(column)
        return bool(self.query(text, params)[1][0][0])


@contextlib.contextmanager
def read_only(uri: str, *, lock_wait: float = LOCK_WAIT_SECONDS) -> Iterator[Reader]:
    """The warehouse ``uri`` names, open read-only inside the block only."""
    file = duckdb_file(uri)
    opened = _duckdb(file, lock_wait) if file is not None else _postgres(uri)
    with opened as reader:
        yield reader


@contextlib.contextmanager
def _duckdb(path: Path, lock_wait: float) -> Iterator[Reader]:
    if not path.exists():
        raise WarehouseMissingError(f"warehouse file {path} does not exist yet")
    try:
        con = connect_file(path, wait=lock_wait, read_only=True)
    except duckdb.Error as exc:  # a lock arrives as connect_file's TransientError
        raise TransientError(f"cannot open warehouse file {path}: {first_line(exc)}") from None

    def execute(text: str, params: Sequence[Any]) -> Rows:
        try:
            cur = con.execute(text, list(params))
            names = [d[0] for d in cur.description or ()]
            return names, [tuple(r) for r in cur.fetchall()]
        except duckdb.Error as exc:
            raise WarehouseQueryError(first_line(exc)) from None

    try:
        yield Reader(execute, "?")
    finally:
        con.close()


@contextlib.contextmanager
def _postgres(uri: str) -> Iterator[Reader]:
    try:
        conn = psycopg.connect(uri, autocommit=True, connect_timeout=5)
        # SET rather than a startup option: poolers (pgbouncer, RDS Proxy) refuse the latter
        conn.execute("SET default_transaction_read_only = on")
    except psycopg.Error as exc:
        reason = connection_reason(str(exc), secrets=secrets_of(uri))
        raise TransientError(
            f"cannot connect to the warehouse {redact_uri(uri)}: {reason}"
        ) from None

    def execute(text: str, params: Sequence[Any]) -> Rows:
        try:
            cur = conn.execute(text.encode(), list(params) or None)
            names = [d.name for d in cur.description or ()]
            return names, [tuple(r) for r in cur.fetchall()]
        except psycopg.Error as exc:
            raise WarehouseQueryError(first_line(exc)) from None

    try:
        yield Reader(execute, "%s")
    finally:
        conn.close()


def attach_read_only(
    con: duckdb.DuckDBPyConnection, path: Path, *, attempts: int = 5, wait: float = 0.5
) -> None:
    """Attach the warehouse file read-only to ``con`` as ``warehouse``.

    A writer's lock is retried briefly, then the :class:`TransientError` a read-only open
    gives; other errors are raised as DuckDB raised them.
    """
    literal = "'" + str(path).replace("'", "''") + "'"
    for attempt in range(1, attempts + 1):
        try:
            con.execute(f"ATTACH {literal} AS warehouse (READ_ONLY)")
            return
        except duckdb.IOException as exc:
            if not is_lock_error(exc):
                raise
            if attempt == attempts:
                raise TransientError(
                    f"the warehouse {path} is locked by a writer (a load is running?) "
                    f"for more than {attempts * wait:g} s"
                ) from exc
            time.sleep(wait)


def first_line(exc: BaseException) -> str:
    """The first line of a driver message (DuckDB and PostgreSQL add hints below it)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
