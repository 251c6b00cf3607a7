"""The test artefacts the README links to: where the tests write them, and what makes one
right (a PNG screenshot, a recording of `make demo`'s output).

The tests write fresh ones under ``$PGCDC_TEST_ARTEFACTS`` (default ``test-artifacts/<kind>/``,
git-ignored); one copy of each is committed at the top of ``test-artifacts/`` and checked with
the same rules by tests/e2e/test_readme.py.
"""

from __future__ import annotations

import os
import re
import shlex
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STEPS = 8  # `pgcdc demo run` says "1/8" … "8/8"


def folder(kind: str) -> Path:
    """Where a test writes its artefacts of ``kind`` (``dashboard``, ``demo``)."""
    given = os.environ.get("PGCDC_TEST_ARTEFACTS")
    return Path(given) if given else ROOT / "test-artifacts" / kind


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG image; ValueError when ``data`` is not one."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def recording_problems(text: str) -> list[str]:
    """What a recording of `pgcdc demo run` lacks: its command line, the eight steps in
    order, "demo done", and the closing block (the query, dashboard and status commands, the
    server's address, how to stop it)."""
    lines = text.splitlines()
    problems = []
    if not lines or not re.match(r"\$ .*pgcdc demo run|\$ make demo", lines[0]):
        problems.append("the first line is not the command recorded")
    steps = [int(m[1]) for line in lines if (m := re.match(rf"(\d)/{STEPS} ", line))]
    if steps != list(range(1, STEPS + 1)):
        problems.append(f"steps {steps} instead of 1 to {STEPS} in order")
    done = next((i for i, line in enumerate(lines) if line.startswith("demo done in ")), None)
    if done is None:
        return [*problems, "no 'demo done' line"]
    closing = "\n".join(lines[done + 1 :])
    commands = closing_commands(closing)
    if set(commands) != {"query", "dashboard", "status"}:
        problems.append(f"the closing block names {sorted(commands)}, not query, dashboard, status")
    if not re.search(r"PostgreSQL keeps running on 127\.0\.0\.1:[1-9]\d*", closing):
        problems.append("the closing block does not say where PostgreSQL keeps running")
    if "`make demo-down`" not in closing or "`make clean`" not in closing:
        problems.append("the closing block does not say how to stop the server")
    return problems


def closing_commands(closing: str) -> dict[str, list[str]]:
    """The pgcdc commands a closing block suggests, by subcommand (their words)."""
    commands = {}
    for line in closing.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) >= 2 and Path(words[0]).name == "pgcdc":
            commands[words[1]] = words
    return commands
