"""Capture everything this process writes to stdout and stderr, at the descriptor level.

pytest captures output at the descriptor level too; this nests inside it: fds 1 and 2 (and
``sys.stdout``/``sys.stderr``) point at a temporary file while the block runs, then are put
back and what was written is replayed to the restored stderr, so pytest still shows it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class Captured:
    """The text written while the block ran (filled in when it ends)."""

    text: str = ""


@contextlib.contextmanager
def capture_process_output() -> Iterator[Captured]:
    """Everything written to fds 1/2 or ``sys.stdout``/``sys.stderr`` inside the block."""
    captured = Captured()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as sink:
        for fd in (1, 2):
            os.dup2(sink.fileno(), fd)
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                yield captured
        finally:
            sink.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            captured.text = sink.read()
    sys.stderr.write(captured.text)
