"""The dashboard's launcher: its extra's check and the page's command line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pgcdc.readside.dashboard import health, server
from pgcdc.schemas.errors import ConfigurationError
from pgcdc.schemas.settings import Settings

pytestmark = pytest.mark.unit


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "countryinfo" else real(name, *a),
    )
    with pytest.raises(
        ConfigurationError, match=r"needs countryinfo: pip install 'pgcdc\[dashboard\]'"
    ):
        server.require_extra()


def test_installed_extra_passes() -> None:
    server.require_extra()  # the test environment installs the extra (make venv)


def test_page_is_local_and_quiet() -> None:
    command = server.streamlit_command(port=8765, address="127.0.0.1")
    assert "--server.address=127.0.0.1" in command
    assert "--browser.gatherUsageStats=false" in command
    assert "--server.port=8765" in command


def test_page_gets_the_resolved_secrets_through_its_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The launcher resolves the warehouse URI and the source DSN; the page only reads them."""
    monkeypatch.setenv("PGCDC_SOURCE_SECRET_ID", "pgcdc/source")
    monkeypatch.setenv("PGCDC_WAREHOUSE_SECRET_ID", "pgcdc/warehouse")
    monkeypatch.setenv("PGCDC_SOURCE_DSN", "host=stale")
    settings = Settings(raw_uri=str(tmp_path / "raw"), slot="s_env")
    env = server.page_environment(
        settings, 5, warehouse_uri="postgresql://w@h/wh", source_dsn="host=h dbname=src"
    )
    assert env["PGCDC_WAREHOUSE_URI"] == "postgresql://w@h/wh"
    assert env["PGCDC_SOURCE_DSN"] == "host=h dbname=src"
    assert "PGCDC_SOURCE_SECRET_ID" not in env and "PGCDC_WAREHOUSE_SECRET_ID" not in env
    none = server.page_environment(settings, 5, warehouse_uri="w.duckdb", source_dsn=None)
    assert "PGCDC_SOURCE_DSN" not in none  # the page then says it has no source


def test_page_without_a_source_says_so(tmp_path: Path) -> None:
    settings = Settings(raw_uri=str(tmp_path / "raw"), slot="s_nosource")
    assert settings.source_dsn is None
    found = health.slot_figures(settings, ttl=0)
    assert found.unavailable == health.NO_SOURCE and found.figures == {}
