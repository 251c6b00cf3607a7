"""Named failure-injection points in the gaps of every stage (capture, snapshot, transform,
load): between 'data written', 'position stored' and 'acknowledged' or 'committed'.

Tests set ``PGCDC_FAULT=<point>`` (optionally ``<point>:<n>`` for the n-th time the point is
reached) and the process dies there at once with exit code 70, as a crash would: no cleanup,
no flush, no rollback. Nothing happens when the variable is unset. The points are one closed
set (:class:`Point`): a name that is not one of them, in the code or in the variable, is an
error, so a misspelt fault cannot pass as a run where nothing happened to crash.

This module lives in ``schemas`` (not in a stage) so every stage package can use it without
importing another stage.
"""

from __future__ import annotations

import enum
import os
import sys
import threading

from pgcdc.schemas.errors import ConfigurationError

CRASH_EXIT_CODE = 70
ENV_VAR = "PGCDC_FAULT"


class Point(enum.StrEnum):
    """Every place a process can be told to die."""

    # capture (pgcdc/cdc_reader/capture.py), per batch
    AFTER_INTENT = "after_intent"  # the batch's intent record is stored, no data yet
    DURING_DATA = "during_data"  # some of the batch's files are written, not all
    AFTER_DATA = "after_data"  # every file of the batch is written, no position record yet
    AFTER_POSITION = "after_position"  # the position record is stored, the slot not yet moved
    # snapshot (pgcdc/cdc_reader/snapshot.py)
    SNAPSHOT_PART = "snapshot_part"  # a chunk's object and its record are written
    # transform (pgcdc/transformer/runner.py), per run
    TRANSFORM_OBJECT = "transform_object"  # a processed object is written (n: the n-th)
    TRANSFORM_BEFORE_MANIFEST = "transform_before_manifest"  # every object, no manifest yet
    TRANSFORM_AFTER_MANIFEST = "transform_after_manifest"  # the manifest is written
    # load (pgcdc/warehouse_loader/), per batch
    LOAD_OUTPUT = "load_output"  # an output is applied, the transaction open (n: the n-th)
    LOAD_BEFORE_COMMIT = "load_before_commit"  # the batch and its position row, not committed
    LOAD_AFTER_COMMIT = "load_after_commit"  # committed; audits and later batches not yet run


CAPTURE_POINTS = (Point.AFTER_INTENT, Point.DURING_DATA, Point.AFTER_DATA, Point.AFTER_POSITION)
TRANSFORM_POINTS = (
    Point.TRANSFORM_OBJECT,
    Point.TRANSFORM_BEFORE_MANIFEST,
    Point.TRANSFORM_AFTER_MANIFEST,
)
LOAD_POINTS = (Point.LOAD_OUTPUT, Point.LOAD_BEFORE_COMMIT, Point.LOAD_AFTER_COMMIT)

_seen: dict[Point, int] = {}
_lock = threading.Lock()  # snapshot workers reach their point from several threads


def wanted() -> tuple[Point, int] | None:
    """The point and visit ``PGCDC_FAULT`` asks for (None when unset); a name that is no
    point, or a count that is no positive integer, is a :class:`ConfigurationError`."""
    text = os.environ.get(ENV_VAR)
    if not text:
        return None
    name, _, nth = text.partition(":")
    try:
        point = Point(name)
    except ValueError:
        known = ", ".join(p.value for p in Point)
        raise ConfigurationError(
            f"{ENV_VAR}: {name!r} is no fault point (one of {known})"
        ) from None
    if nth and not (nth.isdigit() and int(nth) > 0):
        raise ConfigurationError(f"{ENV_VAR}: {nth!r} after {name!r} is no positive count")
    return point, int(nth or 1)


def checkpoint(point: Point) -> None:
    """Die here if ``PGCDC_FAULT`` names this point (and this is the n-th visit)."""
    point = Point(point)  # a caller passing an unknown name fails here, fault or not
    target = wanted()
    if target is None or target[0] is not point:
        return
    with _lock:
        _seen[point] = _seen.get(point, 0) + 1
        if _seen[point] < target[1]:
            return
    sys.stderr.write(f"pgcdc: injected crash at {point.value}\n")
    sys.stderr.flush()
    os._exit(CRASH_EXIT_CODE)
