from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pgcdc.pipeline import cli, config
from pgcdc.pipeline.logs import JsonFormatter
from pgcdc.schemas.errors import ConfigurationError
from pgcdc.schemas.settings import Settings, redact_uri

pytestmark = pytest.mark.unit

SECRET = "s3cr3t-Pa55"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for key in list(__import__("os").environ):
        if key.startswith("PGCDC_"):
            monkeypatch.delenv(key)


def test_defaults_give_a_local_setup() -> None:
    s = Settings()
    assert s.raw_uri == "./pgcdc-data/raw"
    assert s.processed_uri == "./pgcdc-data/processed"
    assert s.warehouse_uri.get_secret_value() == "./pgcdc-data/warehouse.duckdb"
    assert s.slot == "pgcdc"
    assert s.tables == () and s.exclude_tables == ()


def test_environment_then_toml_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    Path("pgcdc.toml").write_text('slot = "from_toml"\nraw_uri = "/toml/raw"\n')
    assert Settings().slot == "from_toml"
    monkeypatch.setenv("PGCDC_SLOT", "from_env")
    monkeypatch.setenv("PGCDC_TABLES", "public.a, public.b ,")
    s = config.load_settings(raw_uri="/flag/raw", slot=None)
    assert s.slot == "from_env"
    assert s.raw_uri == "/flag/raw"
    assert s.tables == ("public.a", "public.b")


@pytest.mark.parametrize("bad", ["Upper", "with-dash", "x" * 64, ""])
def test_slot_name_is_validated(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="slot"):
        config.load_settings(slot=bad)


def test_unknown_store_scheme_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="raw_uri"):
        config.load_settings(raw_uri="gs://bucket/x")


def test_secrets_are_masked_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    dsn = f"postgresql://app:{SECRET}@db.example:5432/totesys"
    s = config.load_settings(source_dsn=dsn, warehouse_uri=f"postgresql://w:{SECRET}@h/wh")
    assert SECRET not in repr(s) and SECRET not in str(s)
    shown = json.dumps(s.redacted())
    assert SECRET not in shown
    assert "postgresql://app:***@db.example:5432/totesys" in shown
    assert cli.main(["config", "--source-dsn", dsn]) == 0
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err
    assert "app:***@db.example" in out.out


def test_redact_key_value_dsn() -> None:
    assert SECRET not in redact_uri(f"host=h password={SECRET} user=u")
    assert SECRET not in redact_uri(f"host=h password='{SECRET} x' user=u")
    assert redact_uri("./pgcdc-data/warehouse.duckdb") == "./pgcdc-data/warehouse.duckdb"


def test_secret_document_errors_name_keys_not_values() -> None:
    doc = {"host": "h", "username": "u", "password": SECRET, "dbname": "d", "port": 6543}
    dsn = config.dsn_from_secret_document(json.dumps(doc), "prod/src")
    assert dsn == f"postgresql://u:{SECRET}@h:6543/d"
    with pytest.raises(ConfigurationError, match="lacks host") as err:
        config.dsn_from_secret_document(json.dumps({**doc, "host": ""}), "prod/src")
    assert SECRET not in str(err.value)
    with pytest.raises(ConfigurationError, match="not a JSON document") as err:
        config.dsn_from_secret_document(SECRET, "prod/src")
    assert SECRET not in str(err.value)


def test_invalid_settings_error_names_the_key_not_the_value() -> None:
    Path("pgcdc.toml").write_text(f'source_password = "{SECRET}"\n')
    with pytest.raises(ConfigurationError, match="source_password") as err:
        config.load_settings()
    assert SECRET not in str(err.value)


def test_no_source_configured_says_what_to_do() -> None:
    with pytest.raises(ConfigurationError, match="PGCDC_SOURCE_DSN"):
        config.source_dsn(Settings(data_dir=Path("nowhere")))


def test_json_log_lines_carry_extras() -> None:
    record = logging.makeLogRecord(
        {"name": "pgcdc.capture", "levelname": "ERROR", "msg": "slot lag %s", "args": (5,)}
    )
    record.slot = "pgcdc"
    doc = json.loads(JsonFormatter({"execution_id": "e-1"}).format(record))
    assert doc["level"] == "ERROR" and doc["message"] == "slot lag 5"
    assert doc["slot"] == "pgcdc" and doc["execution_id"] == "e-1"


def test_redact_masks_a_uri_quoted_inside_a_message() -> None:
    message = f'connection to "postgresql://app:{SECRET}@db.internal:5432/shop" failed: timeout'
    masked = redact_uri(message)
    assert SECRET not in masked
    assert "postgresql://app:***@db.internal:5432/shop" in masked
    assert redact_uri(f"postgresql://app:{SECRET}@h/db") == "postgresql://app:***@h/db"
