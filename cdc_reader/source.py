"""Connections to the source database and the one place its errors are translated.

Every psycopg error raised while talking to the source goes through :func:`translate`, which
maps it to pgcdc's error tree by SQLSTATE class (what the caller should do) and keeps the
message free of secrets (psycopg's messages name host, port and user, never the password).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import psycopg
from psycopg import errors as pgerr

from cdc_reader.wal2json import SESSION_SETTINGS
from schemas.errors import (
    ConfigurationError,
    PgcdcError,
    SourceError,
    SourceUnreachableError,
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
# What libpq and psycopg say when the server was never reached or refused the login; these
# come without a SQLSTATE, so the text is all there is to classify them by.
_UNRESOLVED = re.compile(
    r"failed to resolve host|could not translate host name|Name or service not known|"
    r"nodename nor servname|No address associated with hostname|"
    r"Temporary failure in name resolution",
    re.IGNORECASE,
)
_REFUSED_LOGIN = re.compile(
    r"authentication failed|no pg_hba\.conf entry|role \S+ does not exist|"
    r"database \S+ does not exist|not permitted to log in",
    re.IGNORECASE,
)
_SERVER = re.compile(
    r'connection to server (?:at "(?P<host>[^"]+)"(?: \([^)]*\))?, port (?P<port>\d+)|'
    r'on socket "(?P<socket>[^"]+)") failed: (?P<reason>[^\n]+)'
)
_UNREACHABLE = re.compile(
    r"Connection refused|No such file or directory|timeout expired|timed out|"
    r"No route to host|Network is unreachable|Connection reset",
    re.IGNORECASE,
)


def translate(exc: psycopg.Error, doing: str) -> PgcdcError:
    """Map a driver error to a terminal or transient pgcdc error naming what we were doing."""
    sqlstate = exc.sqlstate or ""
    text = _first_line(exc)
    found = None if sqlstate else _client_side(exc, text, doing)
    if found is not None:
        return found
    if not sqlstate and isinstance(exc, pgerr.OperationalError) and "password" in text:
        sqlstate = "28P01"  # libpq reports failed authentication without a SQLSTATE
    hint = _hint(sqlstate, text)
    if hint is not None:
        return SourceError(f"{doing}: {text} — {hint}")
    if not sqlstate and isinstance(exc, pgerr.OperationalError):
        return TransientError(f"{doing}: {text}")  # connection refused, reset, timed out
    if sqlstate.startswith(_TRANSIENT_CLASSES):
        return TransientError(f"{doing}: {text}")
    if sqlstate.startswith(("28", "42")):
        return SourceError(f"{doing}: {text}")
    return TerminalError(f"{doing}: {text} (SQLSTATE {sqlstate or 'none'})")


def _client_side(exc: psycopg.Error, text: str, doing: str) -> PgcdcError | None:
    """An error libpq reported without a SQLSTATE: a malformed connection string, or a
    failure to connect (:func:`_connection_failure`); None for anything else."""
    if is_conninfo_error(text):
        return ConfigurationError(f"{doing}: {MALFORMED_CONNINFO}")
    if isinstance(exc, pgerr.OperationalError):
        return _connection_failure(str(exc), text, doing)
    return None


def _hint(sqlstate: str, text: str) -> str | None:
    """What to do about a setup error the source reported (None: not a known one)."""
    if "may not be used as an output plugin" in text:
        return "add wal2json to output_plugin_libraries and reload the server configuration"
    hint = _HINTS.get(sqlstate)
    if hint is None and "wal_level" in text:
        hint = "set wal_level = logical and restart the server"
    return hint


def _connection_failure(message: str, text: str, doing: str) -> PgcdcError | None:
    """A failure to connect, classified from libpq's text: an unknown host name or a refused
    login is terminal at once; a server that did not answer (refused, timed out) is a
    :class:`SourceUnreachableError` naming ``host:port``. None for anything else.
    ``message`` is the driver's whole text, ``text`` its first lines."""
    if _UNRESOLVED.search(message):
        return SourceError(f"{doing}: {text} — check the host name (PGCDC_SOURCE_DSN or secret)")
    if _REFUSED_LOGIN.search(message):
        return SourceError(f"{doing}: {text} — check the user, password and database name")
    server = _SERVER.search(message)
    if server is None or not _UNREACHABLE.search(server["reason"]):
        return None
    where = server["socket"] or f"{server['host']}:{server['port']}"
    reason = server["reason"].strip()
    return SourceUnreachableError(f"{doing}: {where}: {reason} — is the server running there?")


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
