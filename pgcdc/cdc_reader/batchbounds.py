"""How large a capture batch may grow before it is cut at a commit: the defaults of
:class:`pgcdc.cdc_reader.capture.CaptureOptions`.

A module of its own, importing nothing, so the CLI's help can quote the defaults without
loading the capture machinery (psycopg, pyarrow) for every command.
"""

from __future__ import annotations

MAX_BATCH_ROWS = 100_000
"""Decoded changes per batch (a larger transaction streams through in parts)."""
MAX_BATCH_BYTES = 64 * 1024 * 1024
"""wal2json text bytes per batch."""
MAX_BATCH_SECONDS = 60.0
"""Seconds a batch stays open before the next commit closes it."""
