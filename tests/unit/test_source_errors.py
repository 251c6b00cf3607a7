"""Driver errors become pgcdc errors without quoting a malformed connection string."""

from __future__ import annotations

import psycopg
import pytest

from pgcdc.cdc_reader.source import translate
from pgcdc.schemas.errors import (
    ConfigurationError,
    PgcdcError,
    SourceError,
    TerminalError,
    TransientError,
)

pytestmark = pytest.mark.unit

SECRET = "hunter2"


@pytest.mark.parametrize(
    "dsn",
    [
        f"host=127.0.0.1 password={SECRET} {SECRET}x",  # missing "=" after a word
        f"postgresql://u:{SECRET} z@127.0.0.1/db",  # unexpected spaces
        f"postgresql://u:{SECRET}%zz@127.0.0.1/db",  # bad percent-encoding
        f"postgresql://u:p@127.0.0.1/db?{SECRET}",  # query parameter without "="
        f"host=127.0.0.1 port={SECRET}",  # invalid integer for an option
    ],
)
def test_malformed_connection_string_is_not_quoted(dsn: str) -> None:
    with pytest.raises(psycopg.Error) as raised:
        psycopg.connect(dsn, connect_timeout=1)
    assert SECRET in str(raised.value)  # libpq quotes the part it could not parse
    translated = translate(raised.value, "connecting to the source")
    assert isinstance(translated, ConfigurationError)
    assert SECRET not in str(translated)
    assert "connection string is malformed" in str(translated)


def test_malformed_warehouse_uri_is_not_quoted() -> None:
    from pgcdc.warehouse_loader.postgres_warehouse import PostgresWarehouse

    with pytest.raises(ConfigurationError) as raised:
        PostgresWarehouse(f"postgresql://u:{SECRET} z@127.0.0.1/wh")
    assert SECRET not in str(raised.value)


def test_redact_masks_a_password_with_a_space() -> None:
    from pgcdc.schemas.settings import redact_uri

    assert SECRET not in redact_uri(f"postgresql://u:{SECRET} z@127.0.0.1/db")


# --- translation by psycopg exception class -------------------------------------------------

RETRIED_SQLSTATE_CLASSES = ("08", "53", "57", "40")  # connection, resources, operator, rollback


def psycopg_classes() -> list[type[psycopg.Error]]:
    """Every exception class psycopg has for a SQLSTATE."""
    return [
        cls
        for cls in vars(psycopg.errors).values()
        if isinstance(cls, type) and issubclass(cls, psycopg.Error) and cls.sqlstate
    ]


def test_the_transient_classes_are_exactly_psycopgs_for_the_retried_sqlstate_classes() -> None:
    """An oracle by SQLSTATE prefix: a psycopg upgrade that adds a class shows up here."""
    from pgcdc.cdc_reader.source import TRANSIENT

    expected = {c for c in psycopg_classes() if str(c.sqlstate)[:2] in RETRIED_SQLSTATE_CLASSES}
    assert set(TRANSIENT) == expected


@pytest.mark.parametrize(
    ("exc", "kind", "phrase"),
    [
        (psycopg.errors.QueryCanceled("canceling statement"), TransientError, "canceling"),
        (psycopg.errors.AdminShutdown("terminating connection"), TransientError, "terminating"),
        (psycopg.errors.ConfigurationLimitExceeded("all slots in use"), TransientError, "slots"),
        (psycopg.errors.ObjectInUse('slot "s" is active for PID 7'), SourceError, "one capture"),
        (psycopg.errors.InsufficientPrivilege("permission denied"), SourceError, "grant"),
        (psycopg.errors.InvalidPassword("password authentication failed"), SourceError, "user"),
        (psycopg.errors.UndefinedTable('relation "t" does not exist'), SourceError, '"t"'),
        (psycopg.errors.InternalError_("cache lookup failed"), TerminalError, "SQLSTATE XX000"),
    ],
)
def test_server_errors_are_translated_by_class(
    exc: psycopg.Error, kind: type[PgcdcError], phrase: str
) -> None:
    translated = translate(exc, "reading changes")
    assert type(translated) is kind
    assert str(translated).startswith("reading changes: ") and phrase in str(translated)


def test_logical_decoding_off_names_wal_level() -> None:
    exc = psycopg.errors.ObjectNotInPrerequisiteState(
        "logical decoding requires wal_level >= logical"
    )
    translated = translate(exc, "creating slot s")
    assert isinstance(translated, SourceError)
    assert "set wal_level = logical and restart the server" in str(translated)


def test_a_connection_failure_masks_the_given_secrets() -> None:
    text = (
        'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
        f"pam said: bad token {SECRET}"
    )
    translated = translate(psycopg.OperationalError(text), "connecting", secrets=[SECRET])
    assert SECRET not in str(translated)
    assert str(translated).startswith("connecting: 10.0.0.5:5432: pam said: bad token ***")
