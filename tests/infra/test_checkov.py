"""checkov finds nothing to fix in infra/, and every check skipped there says why."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import INFRA, REPO

pytestmark = pytest.mark.integration

INSTALL_HINT = (
    "checkov is not installed: `pip install checkov==3.3.30`, best into a virtualenv of its "
    "own (it pins boto3), then put it on PATH or point PGCDC_CHECKOV at its executable"
)
SKIP_COMMENT = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(:?)(.*)")


def _checkov_command() -> list[str]:
    """checkov from PGCDC_CHECKOV, this virtualenv, PATH, or as a module of this Python."""
    configured = os.environ.get("PGCDC_CHECKOV")
    if configured:
        return [configured]
    beside = Path(sys.executable).with_name("checkov")
    if beside.exists():
        return [str(beside)]
    on_path = shutil.which("checkov")
    if on_path:
        return [on_path]
    if importlib.util.find_spec("checkov") is not None:
        return [sys.executable, "-m", "checkov.main"]
    pytest.skip(INSTALL_HINT)


def test_checkov_reports_no_failed_check() -> None:
    command = [
        *_checkov_command(),
        "--directory",
        str(INFRA),
        "--framework",
        "terraform",
        "--quiet",
        "--compact",
        "--output",
        "json",
        # No network here: skip fetching guidelines from the vendor's platform.
        "--skip-download",
    ]
    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.stdout.strip(), f"checkov printed nothing:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]})"
        for c in report.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert report["summary"]["passed"] > 50, report["summary"]
    assert result.returncode == 0, result.stderr[-3000:]


def test_every_skipped_check_gives_a_reason() -> None:
    skips = []
    for path in sorted(INFRA.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SKIP_COMMENT.search(line)
            if match:
                skips.append((f"{path.relative_to(REPO)}:{number}", match))
    assert skips, "expected the documented skips in infra/modules/pgcdc"
    vague = [where for where, match in skips if not match.group(2) or len(match.group(3)) < 30]
    assert not vague, f"a checkov skip needs a reason after the check id: {vague}"
