"""The dashboard's launcher: its extra's check and the page's command line."""

from __future__ import annotations

import importlib.util

import pytest

from readside.dashboard import server
from schemas.errors import ConfigurationError

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
