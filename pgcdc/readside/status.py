"""`pgcdc status`: is the slot safe, is capture keeping up, how fresh is the warehouse?

:func:`slot_status` reads the slot and the last capture position; :func:`pipeline_status`
adds, per captured table, the change counts of the raw store and the transform position,
the transform and load positions, and the freshness: now minus the newest source commit
visible in the warehouse. That commit time is what the loaded batches recorded in
``pgcdc_load_state.newest_commit`` (:func:`warehouse_freshness`, all the load Lambda can
read); a warehouse whose batches predate the column falls back to the raw store's newest
commit at or before the loaded capture bound (:func:`newest_commit_upto`). Both return
frozen dataclasses (what the Lambda handlers turn into EMF metrics). :func:`report` logs
each threshold crossed as one ERROR line; :mod:`pgcdc.readside.status_report` prints the figures.
"""

from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from pgcdc.cdc_reader import slot
from pgcdc.cdc_reader.reader import current_wal_lsn
from pgcdc.cdc_reader.source import connect
from pgcdc.readside.warehouse import WarehouseMissingError, read_only
from pgcdc.schemas.errors import PgcdcError, StorageError
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.processed import Batch, TransformCheck
from pgcdc.schemas.settings import Settings, redact_uri
from pgcdc.schemas.tables import TableName
from pgcdc.storage import Store
from pgcdc.storage.lake.processed import latest_batch, latest_check
from pgcdc.storage.lake.raw import captured_tables, latest_position, table_objects
from pgcdc.warehouse_loader.statements import LOAD_STATE, NEWEST_COMMIT

log = logging.getLogger("pgcdc.status")

# A load holds the DuckDB file for the length of a batch: wait that out before saying the
# warehouse cannot be read.
LOCK_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class SlotStatus:
    """One slot's figures and the problems found."""

    slot: str
    exists: bool
    active: bool = False
    confirmed_lsn: Lsn | None = None
    lag_bytes: int | None = None
    retained_wal_bytes: int | None = None
    wal_status: str | None = None
    safe_wal_size: int | None = None
    last_capture_lsn: Lsn | None = None
    last_capture_at: str | None = None
    problems: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON output (LSNs in their ``X/Y`` text form)."""
        return _plain(asdict(self))

    def capture_age_seconds(self, now: dt.datetime | None = None) -> float | None:
        """Seconds since the last capture (None: never captured), never negative."""
        if not self.last_capture_at:
            return None
        then = dt.datetime.fromisoformat(self.last_capture_at)
        return round(max(0.0, ((now or dt.datetime.now(dt.UTC)) - then).total_seconds()), 1)


def slot_status(dsn: str, raw: Store, settings: Settings) -> SlotStatus:
    """Read the slot and the last capture position; judge them against the thresholds."""
    with connect(dsn, doing="reading the slot's status") as conn:
        info = slot.inspect_slot(conn, settings.slot)
        if info is None:
            return SlotStatus(settings.slot, exists=False, problems=("slot does not exist",))
        current = current_wal_lsn(conn)
    position = latest_position(raw, settings.slot)
    lag = current - info.confirmed_flush if info.confirmed_flush else None
    problems = []
    if lag is not None and lag > settings.max_slot_lag_bytes:
        problems.append(
            f"slot {settings.slot} has {lag:,} bytes of WAL not captured "
            f"(threshold {settings.max_slot_lag_bytes:,}): is capture running?"
        )
    if info.wal_status == "lost":
        problems.append(f"slot {settings.slot} has lost WAL it needed: bootstrap again")
    return SlotStatus(
        slot=settings.slot,
        exists=True,
        active=info.active,
        confirmed_lsn=info.confirmed_flush,
        lag_bytes=lag,
        retained_wal_bytes=info.retained_bytes,
        wal_status=info.wal_status,
        safe_wal_size=info.safe_wal_size,
        last_capture_lsn=position.lsn if position else None,
        last_capture_at=position.written_at.isoformat() if position else None,
        problems=tuple(problems),
    )


def report(status: SlotStatus | PipelineStatus) -> None:
    """Log every problem as one ERROR line (what the error alarms count).

    The figures themselves are not logged: ``pgcdc status`` prints them, and on Lambda the
    handlers publish them as EMF metrics (:mod:`pgcdc.pipeline.emf`).
    """
    slot = status.slot if isinstance(status, PipelineStatus) else status
    for problem in status.problems:
        log.error(problem, extra={"slot": slot.slot})


def _lag(captured: Lsn | None, step: StepPosition | None) -> int | None:
    """Bytes of WAL between the last capture and a step's bound (None: either unknown)."""
    if captured is None or step is None:
        return None
    return max(0, captured - step.bound)


def _plain(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with its LSNs as ``X/Y`` text, for JSON."""
    return {k: str(v) if isinstance(v, Lsn) else v for k, v in doc.items()}


@dataclass(frozen=True)
class TableStatus:
    """One captured table: what the raw store holds and how far the transformer got."""

    table: str
    objects: int
    changes: int
    newest_lsn: Lsn | None
    transformed_lsn: Lsn | None
    pending_changes: int
    """Changes in objects after the table's transform position (not transformed yet)."""


@dataclass(frozen=True)
class StepPosition:
    """The newest batch a step completed: its run, the capture bound it covers, when."""

    run: int
    bound: Lsn
    at: str


@dataclass(frozen=True)
class PipelineStatus:
    """Every figure of ``pgcdc status``; ``problems`` holds the slot's and the freshness's."""

    slot: SlotStatus
    tables: tuple[TableStatus, ...] = ()
    transform: StepPosition | None = None
    load: StepPosition | None = None
    newest_loaded_commit_at: str | None = None
    freshness_seconds: float | None = None
    problems: tuple[str, ...] = ()

    @property
    def transform_lag_bytes(self) -> int | None:
        """WAL bytes captured but not transformed yet (None: nothing captured or transformed)."""
        return _lag(self.slot.last_capture_lsn, self.transform)

    @property
    def load_lag_bytes(self) -> int | None:
        """WAL bytes captured but not loaded yet (None: nothing captured or loaded)."""
        return _lag(self.slot.last_capture_lsn, self.load)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON: the slot's figures at the top level, then the rest."""
        doc = self.slot.as_dict()
        doc.update(
            capture_age_seconds=self.slot.capture_age_seconds(),
            tables=[_plain(asdict(t)) for t in self.tables],
            transform=_plain(asdict(self.transform)) if self.transform else None,
            load=_plain(asdict(self.load)) if self.load else None,
            transform_lag_bytes=self.transform_lag_bytes,
            load_lag_bytes=self.load_lag_bytes,
            newest_loaded_commit_at=self.newest_loaded_commit_at,
            freshness_seconds=self.freshness_seconds,
            problems=list(self.problems),
        )
        return doc


def pipeline_status(
    dsn: str,
    raw: Store,
    processed: Store,
    warehouse_uri: str,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
) -> PipelineStatus:
    """The slot's figures, the per-table counts, the step positions and the freshness, judged
    against the thresholds. Reads only (the warehouse is opened read-only)."""
    found = slot_status(dsn, raw, settings)
    batch = latest_batch(processed)
    loaded = load_position(warehouse_uri)
    tables = tuple(_table_status(raw, t, batch) for t in captured_tables(raw))
    newest = _loaded_commit(warehouse_uri, raw, loaded)
    freshness = freshness_at(newest, now)
    problems = list(found.problems)
    problem = freshness_problem(freshness, settings.max_freshness_seconds)
    if problem:
        problems.append(problem)
    return PipelineStatus(
        slot=found,
        tables=tables,
        transform=_transform_position(batch, latest_check(processed)),
        load=loaded,
        newest_loaded_commit_at=newest.isoformat() if newest else None,
        freshness_seconds=freshness,
        problems=tuple(problems),
    )


def freshness_at(newest: dt.datetime | None, now: dt.datetime | None = None) -> float | None:
    """Seconds from the newest visible source commit to ``now`` (None: nothing known)."""
    if newest is None:
        return None
    return round(((now or dt.datetime.now(dt.UTC)) - newest).total_seconds(), 1)


def freshness_problem(freshness: float | None, limit: float | None) -> str | None:
    """The problem line when freshness is past ``limit`` or unknown; None when fine or
    unchecked (``limit`` None). ``pgcdc status`` and the load handler both log it."""
    if limit is None or (freshness is not None and freshness <= limit):
        return None
    seen = (
        f"{freshness:,.0f} s old"
        if freshness is not None
        else "not known (nothing loaded, or the warehouse could not be read)"
    )
    return (
        f"warehouse freshness {seen}: the newest source commit it shows must be under "
        f"{limit:,.0f} s old (is the pipeline running?)"
    )


def warehouse_freshness(uri: str, *, now: dt.datetime | None = None) -> float | None:
    """Freshness from the warehouse alone: now minus ``max(pgcdc_load_state.newest_commit)``.

    None when no loaded batch recorded a commit time (nothing loaded, or only batches from
    before the column existed). Read-only; errors are raised (the caller decides whether
    they matter), with messages that never hold the DSN.
    """
    return freshness_at(warehouse_newest_commit(uri), now)


def warehouse_newest_commit(uri: str) -> dt.datetime | None:
    """``max(newest_commit)`` of the warehouse's load state; None when the table, the column
    or a value is missing. Opens the warehouse read-only."""
    row = _load_state_row(uri, _NEWEST_COMMIT_ROW, column=NEWEST_COMMIT)
    value = row[0] if row else None
    return value if isinstance(value, dt.datetime) else None


def _loaded_commit(uri: str, raw: Store, loaded: StepPosition | None) -> dt.datetime | None:
    """The newest commit the warehouse shows: its load state's, else (batches loaded before
    ``newest_commit`` existed) the raw store's at or before the loaded bound."""
    if loaded is None:
        return None
    try:
        recorded = warehouse_newest_commit(uri)
    except PgcdcError as exc:
        log.warning("cannot read the warehouse's newest commit: %s", redact_uri(str(exc)))
        recorded = None
    return recorded or newest_commit_upto(raw, loaded.bound)


def _transform_position(batch: Batch | None, check: TransformCheck | None) -> StepPosition | None:
    """The newest batch; its bound and time those of a later run that found nothing new."""
    if batch is None:
        return None
    if check is not None and check.run == batch.run and check.bound > batch.bound:
        return StepPosition(batch.run, check.bound, check.checked_at.isoformat())
    return StepPosition(batch.run, batch.bound, batch.created_at.isoformat())


def _table_status(raw: Store, table: TableName, batch: Batch | None) -> TableStatus:
    """Counts from the Parquet footers of the table's readable objects."""
    objects = table_objects(raw, table)
    progress = batch.progress_of(table) if batch else None
    position = progress.position if progress else None
    counts = _row_counts(raw, [obj.key for obj in objects])
    newest = max((obj.lsn for obj in objects), default=None)
    pending = sum(counts[obj.key] for obj in objects if position is None or obj.lsn > position)
    return TableStatus(
        table=table.qualified,
        objects=len(objects),
        changes=sum(counts.values()),
        newest_lsn=newest,
        transformed_lsn=position,
        pending_changes=pending,
    )


def _row_counts(raw: Store, keys: list[str]) -> dict[str, int]:
    """Rows per object, from the footers (read in parallel: one request each on S3)."""

    def rows(key: str) -> int:
        try:
            return int(pq.ParquetFile(raw.path(key), filesystem=raw.filesystem).metadata.num_rows)
        except OSError as exc:
            raise StorageError(f"cannot read the footer of {raw.url(key)}: {exc}") from exc

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip(keys, pool.map(rows, keys), strict=True))


def newest_commit_upto(raw: Store, bound: Lsn) -> dt.datetime | None:
    """The newest commit time among the changes at or before ``bound``, over every table:
    each table's newest object within the bound decides (objects hold whole batches)."""
    newest: dt.datetime | None = None
    for table in captured_tables(raw):
        within = [obj for obj in table_objects(raw, table) if obj.lsn <= bound]
        if not within:
            continue
        data = raw.read_parquet(within[-1].key, columns=["_lsn", "_commit_ts"])
        times = data.filter(pc.less_equal(data.column("_lsn"), int(bound))).column("_commit_ts")
        found = pc.max(times).as_py()
        if found is not None and (newest is None or found > newest):
            newest = found
    return newest


def load_position(uri: str) -> StepPosition | None:
    """The warehouse's newest loaded batch (``pgcdc_load_state``), or None when there is
    none or the warehouse cannot be read now (a WARNING says why, never the DSN)."""
    try:
        row = _load_state_row(uri, _LOAD_ROW)
    except PgcdcError as exc:
        log.warning("cannot read the warehouse's load position: %s", redact_uri(str(exc)))
        return None
    if row is None:
        return None
    run, bound, at = row
    return StepPosition(int(run), Lsn(int(bound)), at.isoformat())


_LOAD_ROW = f"SELECT run, bound, loaded_at FROM {LOAD_STATE} ORDER BY run DESC LIMIT 1"
_NEWEST_COMMIT_ROW = f"SELECT max({NEWEST_COMMIT}) FROM {LOAD_STATE}"


def _load_state_row(uri: str, query: str, *, column: str | None = None) -> tuple[Any, ...] | None:
    """The first row of ``query`` over the load state; None when the warehouse, the table or
    ``column`` does not exist yet, or the query returns no row."""
    try:
        with read_only(uri, lock_wait=LOCK_WAIT_SECONDS) as reader:
            if not reader.has_column(LOAD_STATE, column):
                return None
            rows = reader.query(query)[1]
    except WarehouseMissingError:
        return None
    return rows[0] if rows else None
