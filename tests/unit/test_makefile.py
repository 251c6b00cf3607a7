"""`make demo` installs what the demo uses and no more; `make test` still gets the browser and
the test tools.

Read from make's dry run (``make -n``: the recipes it would run, nothing executed).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
]

ROOT = Path(__file__).resolve().parents[2]


def dry_run(target: str) -> str:
    run = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target, "VENV=/nonexistent-venv", "TOOLS=/nonexistent"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return run.stdout


def test_demo_installs_postgres_and_wal2json_but_no_browser() -> None:
    recipe = dry_run("demo")
    assert "wal2json" in recipe and "pgcdc demo run" in recipe, recipe
    assert "chromium" not in recipe, recipe
    # pgcdc and its dashboard, not the test and lint tools
    assert "pip install --quiet -e '.[dashboard]'" in recipe, recipe
    assert "[test" not in recipe and "pytest" not in recipe, recipe


def test_test_still_installs_the_browser() -> None:
    recipe = dry_run("test")
    assert "chromium chromium-driver" in recipe and "wal2json" in recipe, recipe
    assert "pytest" in recipe and "pip install --quiet -e '.[test,dashboard]'" in recipe, recipe
