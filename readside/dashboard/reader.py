"""Read-only access to the warehouse for the dashboard: one short connection per refresh.

A DuckDB file admits one read-write process or any number of read-only ones, never both:
while the loader holds the file the dashboard cannot open it, and while the dashboard holds
it the loader cannot. So the dashboard opens the file read-only, runs its queries and closes
it at once, retrying a lock refusal briefly; the PostgreSQL warehouse is read in a session
whose transactions are read-only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg

from schemas.errors import ConfigurationError, TransientError
from schemas.settings import redact_uri
from warehouse_loader.duckdb_warehouse import connect_file
from warehouse_loader.loader import duckdb_path, is_postgres_uri

Query = Callable[[str], tuple[list[str], list[tuple[Any, ...]]]]
"""Run one statement; its column names and rows."""

LOCK_WAIT_SECONDS = 2.0


class PanelError(Exception):
    """One panel's query failed (e.g. a table the loader has not created yet)."""


def is_postgres(uri: str) -> bool:
    """Whether the URI names a PostgreSQL warehouse (the loader's rule)."""
    return is_postgres_uri(uri)


@contextlib.contextmanager
def read_only(uri: str) -> Iterator[Query]:
    """A query function over the warehouse the URI names, open only inside the block."""
    opener = _postgres if is_postgres(uri) else _duckdb
    with opener(uri) as query:
        yield query


@contextlib.contextmanager
def _duckdb(uri: str) -> Iterator[Query]:
    path = duckdb_path(uri)
    if not path.exists():
        raise ConfigurationError(f"warehouse file {path} does not exist yet")
    con = _connect_duckdb(path)
    try:

        def query(text: str) -> tuple[list[str], list[tuple[Any, ...]]]:
            try:
                cur = con.execute(text)
                names = [d[0] for d in cur.description or ()]
                return names, [tuple(r) for r in cur.fetchall()]
            except duckdb.Error as exc:
                raise PanelError(_first_line(exc)) from None

        yield query
    finally:
        con.close()


def _connect_duckdb(path: Path) -> duckdb.DuckDBPyConnection:
    """Open the file read-only; a writer's lock is waited out for LOCK_WAIT_SECONDS."""
    try:
        return connect_file(path, wait=LOCK_WAIT_SECONDS, read_only=True)
    except duckdb.Error as exc:
        raise TransientError(f"cannot open warehouse file {path}: {_first_line(exc)}") from None


@contextlib.contextmanager
def _postgres(uri: str) -> Iterator[Query]:
    try:
        conn = psycopg.connect(uri, autocommit=True, connect_timeout=5)
        # SET rather than a startup option: poolers (pgbouncer, RDS Proxy) refuse the latter
        conn.execute("SET default_transaction_read_only = on")
    except psycopg.Error as exc:
        raise TransientError(
            f"cannot connect to the warehouse {redact_uri(uri)}: {exc.sqlstate or 'no answer'}"
        ) from None
    try:

        def query(text: str) -> tuple[list[str], list[tuple[Any, ...]]]:
            try:
                cur = conn.execute(text.encode())
                names = [d.name for d in cur.description or ()]
                return names, [tuple(r) for r in cur.fetchall()]
            except psycopg.Error as exc:
                raise PanelError(_first_line(exc)) from None

        yield query
    finally:
        conn.close()


def _first_line(exc: BaseException) -> str:
    """The first line of a driver message (DuckDB and PostgreSQL add hints below it)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
