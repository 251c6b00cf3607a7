"""Connections to the demo database, with driver errors translated once, here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from pgcdc.schemas.errors import TransientError


@contextmanager
def connect(dsn: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """An autocommit connection in UTC; callers open their own transactions.

    A failure to connect or a lost connection is a :class:`TransientError` (the server may
    come back); every other database error propagates unchanged.
    """
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            # timestamp columns hold UTC wall-clock time, whatever the server's zone.
            conn.execute("SET TIME ZONE 'UTC'")
            yield conn
    except psycopg.OperationalError as exc:
        raise TransientError(f"demo database unreachable: {exc}") from exc
