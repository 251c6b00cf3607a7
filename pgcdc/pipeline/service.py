"""Service functions: what the CLI and the Lambda handlers call, one per job."""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

import tenacity

from pgcdc.pipeline import config
from pgcdc.schemas.errors import SourceUnreachableError, TransientError
from pgcdc.schemas.settings import Settings
from pgcdc.schemas.tables import TableName
from pgcdc.storage import Store, open_store

# Each job imports its stage when it runs: a `pgcdc` process runs one job, and importing
# every stage (pyarrow.compute, pandas through pyarrow, DuckDB) would cost each process
# about a second more.
if TYPE_CHECKING:
    from pgcdc.cdc_reader.capture import CaptureOptions, CaptureResult, Progress
    from pgcdc.cdc_reader.snapshot import Progress as SnapshotProgress
    from pgcdc.cdc_reader.snapshot import SnapshotResult
    from pgcdc.transformer.runner import TransformResult
    from pgcdc.warehouse_loader.loader import LoadResult

log = logging.getLogger("pgcdc")

CAPTURE_ATTEMPTS = 5
"""Tries of one capture while it fails transiently (waits 1, 2, 4, 8 s: ~15 s in all)."""
UNREACHABLE_ATTEMPTS = 3
"""Tries of one capture while the source cannot be reached at all (connection refused or timed
out: most often a wrong host or port): waits of 1 s and 2 s, then exit 75."""


def raw_store(settings: Settings) -> Store:
    """The raw change store the settings name."""
    return open_store(
        settings.raw_uri,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.aws_region,
        name="raw store",
    )


def capture_options(settings: Settings, **overrides: Any) -> CaptureOptions:
    """Capture options from settings, with flags overriding (None values ignored)."""
    from pgcdc.cdc_reader.capture import CaptureOptions

    given = {k: v for k, v in overrides.items() if v is not None}
    base = CaptureOptions(slot=settings.slot, table_filter=config.table_filter(settings))
    return dataclasses.replace(base, **given)


def capture_once(
    settings: Settings,
    options: CaptureOptions,
    progress: Progress | None = None,
    *,
    attempts: int = CAPTURE_ATTEMPTS,
) -> CaptureResult:
    """Drain the slot once (what the scheduled function runs).

    Transient failures (connection loss, throttling) are retried with exponential backoff,
    capped at 30 s between tries; every retry reconciles and rewrites the same objects. A
    source that cannot be reached is tried only :data:`UNREACHABLE_ATTEMPTS` times. Terminal
    errors (bad credentials, an unknown host, a store path that cannot be written) are
    raised at once. Each wait logs one WARNING naming the attempt, the wait and the error.
    """
    from pgcdc.cdc_reader.capture import drain

    dsn, raw = config.source_dsn(settings), raw_store(settings)
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(TransientError),
        stop=lambda state: state.attempt_number >= _attempts_for(state, attempts),
        wait=tenacity.wait_exponential(multiplier=1, max=30),
        before_sleep=lambda state: log.warning(
            "capture attempt %d of %d failed, trying again in %.0f s: %s",
            state.attempt_number,
            _attempts_for(state, attempts),
            state.next_action.sleep if state.next_action else 0.0,
            state.outcome.exception() if state.outcome else "?",
        ),
        reraise=True,
    )
    return retrying(drain, dsn, raw, options, progress=progress)


def _attempts_for(state: tenacity.RetryCallState, attempts: int) -> int:
    """How many tries the error of the attempt just made allows (fewer for an unreachable
    source: waiting long for a wrong port helps no one)."""
    failed = state.outcome.exception() if state.outcome else None
    if isinstance(failed, SourceUnreachableError):
        return min(attempts, UNREACHABLE_ATTEMPTS)
    return attempts


def capture_follow(
    settings: Settings,
    options: CaptureOptions,
    *,
    flush_every: float,
    stop: threading.Event | None = None,
    on_result: Callable[[CaptureResult], None] | None = None,
) -> int:
    """Drain, sleep until the next flush, repeat, until stopped (SIGINT/SIGTERM or ``stop``).

    Draining each time keeps decoding proportional to new changes. Transient errors are
    logged and retried at the next flush. Returns the number of drains.
    """
    from pgcdc.cdc_reader.capture import drain

    stop = stop or _stop_on_signals()
    dsn, raw = config.source_dsn(settings), raw_store(settings)
    drains = 0
    while not stop.is_set():
        began = time.monotonic()
        try:
            result = drain(dsn, raw, options)
            drains += 1
            if on_result:
                on_result(result)
        except TransientError as exc:
            log.warning("capture failed, retrying at the next flush: %s", exc)
        stop.wait(max(0.0, flush_every - (time.monotonic() - began)))
    return drains


def take_snapshot(
    settings: Settings,
    *,
    tables: tuple[str, ...] = (),
    workers: int = 2,
    chunk_pages: int = 2048,
    progress: SnapshotProgress | None = None,
) -> SnapshotResult:
    """Bootstrap the raw store from the slot's starting point, or re-snapshot ``tables``."""
    from pgcdc.cdc_reader.snapshot import SnapshotOptions, snapshot

    options = SnapshotOptions(
        slot=settings.slot,
        table_filter=config.table_filter(settings),
        tables=tuple(TableName.parse(t) for t in tables),
        workers=workers,
        chunk_pages=chunk_pages,
    )
    return snapshot(config.source_dsn(settings), raw_store(settings), options, progress=progress)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("stopping after the current drain", extra={"signal": signum})
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
    return stop


def processed_store(settings: Settings) -> Store:
    """The processed store the settings name."""
    return open_store(
        settings.processed_uri,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.aws_region,
        name="processed store",
    )


def transform_once(settings: Settings) -> TransformResult:
    """Transform the changes captured since the last run into one processed batch."""
    from pgcdc.transformer.runner import transform

    return transform(
        raw_store(settings),
        processed_store(settings),
        slot=settings.slot,
        model_dir=settings.model_dir,
    )


def load_once(settings: Settings) -> LoadResult:
    """Apply the processed batches not yet in the warehouse (one transaction each)."""
    from pgcdc.warehouse_loader.loader import load, open_warehouse

    warehouse = open_warehouse(config.warehouse_uri(settings))
    try:
        return load(processed_store(settings), warehouse)
    finally:
        warehouse.close()


def run_once(settings: Settings, options: CaptureOptions) -> list[str]:
    """Capture, transform and load once; one summary line per step."""
    captured = capture_once(settings, options)
    transformed = transform_once(settings)
    loaded = load_once(settings)
    return [captured.describe(), transformed.describe(), loaded.describe()]


def run_follow(
    settings: Settings,
    options: CaptureOptions,
    *,
    every: float,
    stop: threading.Event | None = None,
    on_result: Callable[[list[str]], None] | None = None,
) -> int:
    """Run capture → transform → load every ``every`` seconds until stopped; the count of
    runs. Transient errors are logged and retried at the next turn."""
    stop = stop or _stop_on_signals()
    runs = 0
    while not stop.is_set():
        began = time.monotonic()
        try:
            lines = run_once(settings, options)
            runs += 1
            if on_result:
                on_result(lines)
        except TransientError as exc:
            log.warning("run failed, retrying at the next turn: %s", exc)
        stop.wait(max(0.0, every - (time.monotonic() - began)))
    return runs
