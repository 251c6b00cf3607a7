"""Driver errors become pgcdc errors without quoting a malformed connection string."""

from __future__ import annotations

import psycopg
import pytest

from cdc_reader.source import translate
from schemas.errors import ConfigurationError

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
    from warehouse_loader.postgres_warehouse import PostgresWarehouse

    with pytest.raises(ConfigurationError) as raised:
        PostgresWarehouse(f"postgresql://u:{SECRET} z@127.0.0.1/wh")
    assert SECRET not in str(raised.value)


def test_redact_masks_a_password_with_a_space() -> None:
    from schemas.settings import redact_uri

    assert SECRET not in redact_uri(f"postgresql://u:{SECRET} z@127.0.0.1/db")
