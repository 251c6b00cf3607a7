"""Named failure-injection points in the gaps between 'data written', 'position stored' and
'slot acknowledged'.

Tests set ``PGCDC_FAULT=<point>`` (optionally ``<point>:<n>`` for the n-th time the point is
reached) and the process dies there at once with exit code 70, as a crash would: no cleanup,
no flush. Nothing happens when the variable is unset.
"""

from __future__ import annotations

import os
import sys

POINTS = (
    "after_intent",  # the batch's intent record is stored, no data yet
    "during_data",  # some of the batch's files are written, not all
    "after_data",  # every file of the batch is written, no position record yet
    "after_position",  # the position record is stored, the slot not yet advanced
)
CRASH_EXIT_CODE = 70

_seen: dict[str, int] = {}


def checkpoint(point: str) -> None:
    """Die here if ``PGCDC_FAULT`` names this point (and this is the n-th visit)."""
    wanted = os.environ.get("PGCDC_FAULT")
    if not wanted:
        return
    name, _, nth = wanted.partition(":")
    if name != point:
        return
    _seen[point] = _seen.get(point, 0) + 1
    if _seen[point] >= int(nth or 1):
        sys.stderr.write(f"pgcdc: injected crash at {point}\n")
        sys.stderr.flush()
        os._exit(CRASH_EXIT_CODE)
