"""Connections to the source database and the one place its errors are translated.

Every psycopg error raised while talking to the source goes through :func:`translate`, which
maps it to pgcdc's error tree by psycopg exception class (what the caller should do) and keeps
the message free of secrets: the cause is one cleaned line (:func:`cause_of`) with the DSN's
passwords masked. ``capture``, ``snapshot``, ``status`` and ``pgcdc check`` all connect
through :func:`open_connection` (or :func:`connect`), so they see the same session.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

import psycopg
from psycopg import errors as pgerr
from psycopg import pq

from pgcdc.cdc_reader.wal2json import SESSION_SETTINGS
from pgcdc.schemas.errors import (
    ConfigurationError,
    PgcdcError,
    SourceError,
    SourceUnreachableError,
    TerminalError,
    TransientError,
)
from pgcdc.schemas.settings import MALFORMED_CONNINFO, is_conninfo_error

CONNECT_TIMEOUT_S = 10
"""Used when neither the DSN nor ``PGCONNECT_TIMEOUT`` sets a connect timeout."""

Conn = psycopg.Connection[Any]

# Worth a retry: the connection broke (SQLSTATE class 08), the server ran short of a
# resource (53), an operator or a timeout stopped the statement (57), or the transaction
# was rolled back for a conflict (40). psycopg gives each SQLSTATE a class of its own, with
# no common base per SQLSTATE class, so each is listed (tests/unit/test_source_errors.py
# compares the list with psycopg's classes).
TRANSIENT: tuple[type[psycopg.Error], ...] = (
    pgerr.ConnectionException,
    pgerr.ConnectionDoesNotExist,
    pgerr.ConnectionFailure,
    pgerr.SqlclientUnableToEstablishSqlconnection,
    pgerr.SqlserverRejectedEstablishmentOfSqlconnection,
    pgerr.TransactionResolutionUnknown,
    pgerr.ProtocolViolation,
    pgerr.InsufficientResources,
    pgerr.DiskFull,
    pgerr.OutOfMemory,
    pgerr.TooManyConnections,
    pgerr.ConfigurationLimitExceeded,
    pgerr.OperatorIntervention,
    pgerr.QueryCanceled,
    pgerr.AdminShutdown,
    pgerr.CrashShutdown,
    pgerr.CannotConnectNow,
    pgerr.DatabaseDropped,
    pgerr.IdleSessionTimeout,
    pgerr.TransactionRollback,
    pgerr.SerializationFailure,
    pgerr.TransactionIntegrityConstraintViolation,
    pgerr.StatementCompletionUnknown,
    pgerr.DeadlockDetected,
)
# Setup errors with a known fix, first match wins.
_HINTS: tuple[tuple[type[psycopg.Error], str], ...] = (
    (pgerr.ObjectInUse, "another process holds the slot; only one capture may run per slot"),
    (pgerr.InvalidPassword, "check the user name and password (PGCDC_SOURCE_DSN or the secret)"),
    (pgerr.InsufficientPrivilege, "grant the missing privilege (pgcdc check lists what is needed)"),
)
_WAL_LEVEL_HINT = "set wal_level = logical and restart the server"
# What libpq and psycopg say when the server was never reached or refused the login; these
# come without a SQLSTATE (psycopg raises a bare OperationalError), so the text is all there
# is to classify them by.
_UNRESOLVED = re.compile(
    r"failed to resolve host|could not translate host name|Name or service not known|"
    r"nodename nor servname|No address associated with hostname|"
    r"Temporary failure in name resolution",
    re.IGNORECASE,
)
_REFUSED_LOGIN = re.compile(
    r"authentication failed|no pg_hba\.conf entry|role \S+ does not exist|"
    r"database \S+ does not exist|not permitted to log in|password",
    re.IGNORECASE,
)
_SERVER = re.compile(
    r'connection to server (?:at "(?P<host>[^"]+)"(?: \([^)]*\))?, port (?P<port>\d+)|'
    r'on socket "(?P<socket>[^"]+)") failed: '
)
_UNREACHABLE = re.compile(
    r"Connection refused|No such file or directory|timeout expired|timed out|"
    r"No route to host|Network is unreachable|Connection reset",
    re.IGNORECASE,
)


def translate(exc: psycopg.Error, doing: str, *, secrets: Iterable[str] = ()) -> PgcdcError:
    """Map a driver error to a terminal or transient pgcdc error naming what we were doing.

    The class decides: :data:`TRANSIENT` classes are worth a retry, refused logins and
    missing privileges (SQLSTATE classes 28 and 42) are :class:`SourceError`, anything
    else the server reports is terminal. ``secrets`` are masked in the message.
    """
    cause = cause_of(exc, secrets)
    if exc.sqlstate is None:
        return _client_side(exc, cause, doing)
    hint = _hint(exc)
    if hint is not None:
        return SourceError(f"{doing}: {cause} — {hint}")
    if isinstance(exc, TRANSIENT):
        return TransientError(f"{doing}: {cause}")
    if isinstance(exc, pgerr.InvalidAuthorizationSpecification | pgerr.ProgrammingError):
        return SourceError(f"{doing}: {cause}")
    return TerminalError(f"{doing}: {cause} (SQLSTATE {exc.sqlstate})")


def _hint(exc: psycopg.Error) -> str | None:
    """What to do about a setup error the source reported (None: not a known one)."""
    for cls, hint in _HINTS:
        if isinstance(exc, cls):
            return hint
    if isinstance(exc, pgerr.ObjectNotInPrerequisiteState) and "wal_level" in str(exc):
        return _WAL_LEVEL_HINT
    return None


def _client_side(exc: psycopg.Error, cause: str, doing: str) -> PgcdcError:
    """An error psycopg or libpq raised without a SQLSTATE: a malformed connection string,
    a failure to connect, or a connection lost mid-statement.

    An unknown host name or a refused login is terminal at once; a server that did not
    answer (refused, timed out) is a :class:`SourceUnreachableError` naming ``host:port``;
    any other lost connection is transient.
    """
    if is_malformed_dsn(exc):
        return ConfigurationError(f"{doing}: {MALFORMED_CONNINFO}")
    if not isinstance(exc, psycopg.OperationalError):
        return TerminalError(f"{doing}: {cause} (SQLSTATE none)")
    text = str(exc)
    if _UNRESOLVED.search(text):
        return SourceError(f"{doing}: {cause} — check the host name (PGCDC_SOURCE_DSN or secret)")
    server = _SERVER.search(text)
    where = (server["socket"] or f"{server['host']}:{server['port']}") if server else None
    at = f"{where}: " if where else ""
    if _REFUSED_LOGIN.search(cause):
        return SourceError(f"{doing}: {at}{cause} — check the user, password and database name")
    if where is not None and _UNREACHABLE.search(cause):
        return SourceUnreachableError(f"{doing}: {at}{cause} — is the server running there?")
    return TransientError(f"{doing}: {at}{cause}")


def is_malformed_dsn(exc: psycopg.Error) -> bool:
    """Whether ``exc`` is libpq failing to parse the connection string; its message quotes
    the string (maybe the password), so it must never be shown."""
    return exc.sqlstate is None and is_conninfo_error(str(exc))


def cause_of(exc: psycopg.Error, secrets: Iterable[str] = ()) -> str:
    """The cause of a driver error as one line, with ``secrets`` masked.

    A server's error is its primary message. A connection failure is the last attempt's
    reason (libpq lists one ``…failed: reason`` line per address it tried), without the
    ``FATAL:`` prefix.
    """
    primary = exc.diag.message_primary if exc.sqlstate else None
    if primary:
        return _masked(primary, secrets)
    return connection_reason(str(exc), secrets=secrets)


def connection_reason(text: str, *, secrets: Iterable[str] = ()) -> str:
    """The cause in a libpq error text as one line, with ``secrets`` masked: the reason of
    the last ``…failed: reason`` line (one per address tried) or the first line, without a
    ``FATAL:`` or ``ERROR:`` prefix."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    failing = [line for line in lines if "failed:" in line]
    line = (failing[-1] if failing else lines[0]).rsplit("failed:", 1)[-1].strip()
    for prefix in ("FATAL:", "ERROR:"):
        line = line.removeprefix(prefix).strip()
    return _masked(line, secrets) or "unknown error"


def _masked(line: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            line = line.replace(secret, "***")
    return line


def secrets_of(dsn: str) -> list[str]:
    """The passwords a connection with ``dsn`` may use: the DSN's own and ``PGPASSWORD``."""
    try:
        given = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        given = {}
    return [str(p) for p in (given.get("password"), os.environ.get("PGPASSWORD")) if p]


def describe_target(dsn: str) -> str:
    """``user@host:port/dbname`` of a DSN, with libpq's defaults filled in; never the password."""
    given = {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(dsn).items()}
    defaults = {
        opt.keyword.decode(): opt.val.decode() for opt in pq.Conninfo.get_defaults() if opt.val
    }

    def value(key: str, fallback: str) -> str:
        return given.get(key) or defaults.get(key) or fallback

    user = value("user", "?")
    host = value("host", "") or value("hostaddr", "local socket")
    return f"{user}@{host}:{value('port', '5432')}/{value('dbname', user)}"


def open_connection(
    dsn: str, *, application_name: str = "pgcdc", replication: bool = False
) -> Conn:
    """An autocommit connection with pgcdc's session settings (a replication connection:
    none). Raises the driver's error untranslated: callers translate it (:func:`connect`),
    or judge it (``pgcdc check``)."""
    given = psycopg.conninfo.conninfo_to_dict(dsn)
    extra: dict[str, Any] = {"replication": "database"} if replication else {}
    if "connect_timeout" not in given and not os.environ.get("PGCONNECT_TIMEOUT"):
        extra["connect_timeout"] = CONNECT_TIMEOUT_S
    conn = psycopg.connect(dsn, autocommit=True, **extra)
    if replication:
        return conn
    try:
        # SET rather than startup options: poolers (pgbouncer, RDS Proxy) refuse the latter;
        # the forms wal2json's values are printed in, which the decoder parses
        settings = {**SESSION_SETTINGS, "application_name": application_name}
        calls = ", ".join(["set_config(%s, %s, false)"] * len(settings))
        conn.execute(f"SELECT {calls}", [x for kv in settings.items() for x in kv])
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def connect(
    dsn: str,
    *,
    autocommit: bool = True,
    doing: str = "connecting to the source",
    replication: bool = False,
) -> Iterator[Conn]:
    """:func:`open_connection` with its errors translated; closed on exit."""
    try:
        conn = open_connection(dsn, replication=replication)
        conn.autocommit = autocommit
    except psycopg.Error as exc:
        raise translate(exc, doing, secrets=secrets_of(dsn)) from None
    try:
        yield conn
    finally:
        conn.close()
