"""Connections to the source database and the one place its errors are translated.

Every psycopg error raised while talking to the source goes through :func:`translate`, which
maps it to pgcdc's error tree by SQLSTATE class (what the caller should do) and keeps the
message free of secrets (psycopg's messages name host, port and user, never the password).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from psycopg import errors as pgerr

from cdc_reader.wal2json import SESSION_SETTINGS
from schemas.errors import (
    ConfigurationError,
    PgcdcError,
    SourceError,
    TerminalError,
    TransientError,
)
from schemas.settings import MALFORMED_CONNINFO, is_conninfo_error

_TRANSIENT_CLASSES = ("08", "53", "57", "40")  # connection, resources, operator, rollback
_HINTS = {
    "58P01": "is wal2json installed on the server? (apt-get install postgresql-15-wal2json)",
    "55006": "another process holds the slot; only one capture may run per slot",
    "28P01": "check the user name and password (PGCDC_SOURCE_DSN or the secret)",
    "42501": "grant the missing privilege (pgcdc check lists what is needed)",
}


def translate(exc: psycopg.Error, doing: str) -> PgcdcError:
    """Map a driver error to a terminal or transient pgcdc error naming what we were doing."""
    sqlstate = exc.sqlstate or ""
    text = _first_line(exc)
    if not sqlstate and is_conninfo_error(text):
        return ConfigurationError(f"{doing}: {MALFORMED_CONNINFO}")
    if not sqlstate and isinstance(exc, pgerr.OperationalError) and "password" in text:
        sqlstate = "28P01"  # libpq reports failed authentication without a SQLSTATE
    hint = _HINTS.get(sqlstate)
    if "may not be used as an output plugin" in text:
        hint = "add wal2json to output_plugin_libraries and reload the server configuration"
    if hint is None and "wal_level" in text:
        hint = "set wal_level = logical and restart the server"
    if hint is not None:
        return SourceError(f"{doing}: {text} — {hint}")
    if not sqlstate and isinstance(exc, pgerr.OperationalError):
        return TransientError(f"{doing}: {text}")  # connection refused, reset, timed out
    if sqlstate.startswith(_TRANSIENT_CLASSES):
        return TransientError(f"{doing}: {text}")
    if sqlstate.startswith(("28", "42")):
        return SourceError(f"{doing}: {text}")
    return TerminalError(f"{doing}: {text} (SQLSTATE {sqlstate or 'none'})")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines[:2]) if lines else type(exc).__name__


@contextlib.contextmanager
def connect(
    dsn: str, *, autocommit: bool = True, doing: str = "connecting to the source"
) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection with pgcdc's session settings; errors translated."""
    try:
        conn = psycopg.connect(dsn, autocommit=True)
        # SET rather than startup options: poolers (pgbouncer, RDS Proxy) refuse the latter
        # the forms wal2json's values are printed in, which the decoder parses
        settings = {**SESSION_SETTINGS, "application_name": "pgcdc"}
        calls = ", ".join(["set_config(%s, %s, false)"] * len(settings))
        conn.execute(f"SELECT {calls}", [x for kv in settings.items() for x in kv])
        conn.autocommit = autocommit
    except psycopg.Error as exc:
        raise translate(exc, doing) from None
    try:
        yield conn
    finally:
        conn.close()
