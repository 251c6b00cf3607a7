"""Capture: drain a slot's pending changes into the raw store, then acknowledge them.

Per batch, in this order (each step idempotent, a crash between any two loses nothing):

1. an *intent* record with the batch's LSN range (so a replay cuts the batch the same way);
2. one Parquet object per table, named by the batch's LSN range;
3. a *position* record: everything up to the batch's last commit is durable;
4. the acknowledgement: the stream's standby status reports that commit as flushed
   (forward only, never past the last position record).

Changes arrive over the streaming replication protocol (:mod:`pgcdc.cdc_reader.replication`):
the server decodes on its side while this process converts and writes. A drain reads up to
the WAL position fixed when it starts (like ``pg_recvlogical --endpos``): whole
transactions that committed before it, never one that commits after, so a replay after a
crash cuts the same batches.

On start, a position record ahead of the slot advances the slot; an intent beyond the
position makes the replay cut its first batch at the intent's end, so the objects a crashed
run left are rewritten with the same names and content.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pyarrow.compute as pc

from pgcdc.cdc_reader import reader, slot
from pgcdc.cdc_reader.batchbounds import MAX_BATCH_BYTES, MAX_BATCH_ROWS, MAX_BATCH_SECONDS
from pgcdc.cdc_reader.catalog import load_specs, require_identity
from pgcdc.cdc_reader.dropped import dropped_tables
from pgcdc.cdc_reader.replication import ReplicationStream
from pgcdc.cdc_reader.source import connect, translate
from pgcdc.cdc_reader.state import Intent, Position, StateStore, StoreStateStore
from pgcdc.cdc_reader.tablebatch import TableBatch
from pgcdc.cdc_reader.transaction import Begin, Commit
from pgcdc.cdc_reader.wal2json import SESSION_SETTINGS, ColumnarDecoder
from pgcdc.schemas import layout
from pgcdc.schemas.changes import Message
from pgcdc.schemas.errors import SourceError
from pgcdc.schemas.faults import Point, checkpoint
from pgcdc.schemas.lsn import ZERO, Lsn
from pgcdc.schemas.tables import TableFilter, TableName
from pgcdc.schemas.tablespec import SpecMismatchError, TableSpec
from pgcdc.schemas.wording import counted
from pgcdc.storage import Store

log = logging.getLogger("pgcdc.capture")

Progress = Callable[["CaptureResult"], None]


@dataclass(frozen=True)
class CaptureOptions:
    """How to capture: which slot and tables, batch bounds, time budget."""

    slot: str
    table_filter: TableFilter = field(default_factory=TableFilter)
    max_batch_rows: int = MAX_BATCH_ROWS
    max_batch_bytes: int = MAX_BATCH_BYTES
    max_batch_seconds: float = MAX_BATCH_SECONDS
    queue_size: int = 1000
    """Messages the stream's receiver may hold ahead of the decoder."""
    time_budget: float | None = None
    create_slot: bool = True


@dataclass
class CaptureResult:
    """What one drain did."""

    slot: str
    start: Lsn | None = None
    position: Lsn | None = None
    batches: int = 0
    files: int = 0
    rows: int = 0
    bytes_written: int = 0
    changes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    stopped_by_budget: bool = False
    remaining_bytes: int | None = None

    @property
    def rate(self) -> float:
        """Row changes per second."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        """One line for people."""
        ops = ", ".join(f"{k} {v:,}" for k, v in sorted(self.changes.items())) or "none"
        line = (
            f"captured {counted(self.rows, 'change')} ({ops}) in "
            f"{counted(self.batches, 'batch', 'batches')}, {counted(self.files, 'file')}, "
            f"{self.bytes_written / 1e6:.1f} MB, {self.seconds:.1f} s "
            f"({self.rate:,.0f}/s); slot {self.slot} at {self.position}"
        )
        if self.stopped_by_budget:
            line += f"; stopped by the time budget, {self.remaining_bytes or 0:,} WAL bytes left"
        return line


def drain(
    dsn: str,
    raw: Store,
    options: CaptureOptions,
    *,
    state: StateStore | None = None,
    progress: Progress | None = None,
) -> CaptureResult:
    """Capture everything committed before now into ``raw`` and advance the slot.

    Idempotent: a re-run after any failure rewrites the same objects and moves on. A
    capture that is refused leaves no slot of its own behind: the tables are checked before
    a missing slot is created, and a refusal after that drops the slot this run created.
    """
    state = state or StoreStateStore(raw)
    started = time.monotonic()
    with connect(dsn) as ctl:
        created = _ensure_slot(ctl, options)
        try:
            run, specs, gone, upto = _start(ctl, raw, state, options, progress)
            stream = ReplicationStream(
                dsn,
                options.slot,
                run.result.start or ZERO,
                reader.plugin_options(
                    sorted({*specs, *gone}),
                    numeric_as_string=slot.accepts_option(
                        ctl,
                        options.slot,
                        reader.NUMERIC_AS_STRING,
                        at=run.result.start or upto,
                    ),
                ),
                end=upto,
                queue_size=options.queue_size,
                settings=SESSION_SETTINGS,
            )
        except BaseException:
            if created:  # refused before reading anything: the new slot would only pin WAL
                slot.drop_unused(ctl, options.slot, "the capture was refused")
            raise
        result = run.result
        try:
            run.confirm = stream.mark_durable
            finished = run.consume(_rows(stream), started, end=upto)
            if finished:
                # Every transaction that committed up to the end is stored: the slot may
                # confirm the end itself, so an idle or filtered slot does not pin WAL, and
                # the dropped tables' last changes are in: later runs need not look again.
                run.captured = tuple((t.schema, t.name) for t in sorted(specs))
                run.acknowledge(max(upto, result.position or upto))
            if not finished:
                result.remaining_bytes = max(0, upto - (result.position or upto))
        finally:
            # its last status update reports the acknowledged position; the server lets go
            # of the slot before it completes the command close() waits for
            stream.close()
    result.seconds = time.monotonic() - started
    if gone and finished:
        names = ", ".join(str(t) for t in sorted(gone))
        raise SourceError(
            f"captured table(s) {names} no longer exist in the source: every change committed "
            f"before the drop is in the raw store (slot at {result.position}); they are no "
            "longer captured"
        )
    log.info(
        result.describe(),
        extra={
            "slot": options.slot,
            "rows": result.rows,
            "batches": result.batches,
            "position": str(result.position),
            "rate": round(result.rate),
        },
    )
    return result


def _rows(stream: ReplicationStream) -> Iterator[tuple[str, str, bytes]]:
    """The stream's messages as the decoder takes them: (LSN text, xid unknown, text)."""
    for message in stream:
        yield str(message.start), "", message.payload


def _ensure_slot(ctl: psycopg.Connection[Any], options: CaptureOptions) -> bool:
    """Create the slot when it is missing (and allowed); whether this call created it.

    The tables are checked first, so a capture refused for them creates nothing.
    """
    if slot.inspect_slot(ctl, options.slot) is not None:
        return False
    if not options.create_slot:
        raise SourceError(f"slot {options.slot} does not exist (run `pgcdc snapshot`)")
    require_identity(load_specs(ctl, options.table_filter))
    info, created = slot.create_slot(ctl, options.slot)
    log.info("created slot", extra={"slot": options.slot, "lsn": str(info.confirmed_flush)})
    return created


def _start(
    ctl: psycopg.Connection[Any],
    raw: Store,
    state: StateStore,
    options: CaptureOptions,
    progress: Progress | None,
) -> tuple[_Run, dict[TableName, TableSpec], dict[TableName, TableSpec], Lsn]:
    """Agree with the slot, then read the catalog and plan the run: (run, specs, dropped
    tables, end of the WAL to read)."""
    stored, position = _prepare(ctl, state, options)
    result = CaptureResult(options.slot, start=position, position=position)
    upto = reader.current_wal_lsn(ctl)
    # after `upto`: every table changed before it is in the catalog we read now
    specs = load_specs(ctl, options.table_filter)
    require_identity(specs)
    previously = stored.tables if stored else ()
    gone = dropped_tables(raw, previously, specs, options.table_filter)
    run = _Run(
        raw=raw,
        state=state,
        ctl=ctl,
        options=options,
        specs={**specs, **gone},
        captured=tuple((t.schema, t.name) for t in sorted({*specs, *gone})),
        result=result,
        intent=state.pending_intent(options.slot, position),
        progress=progress,
    )
    run.stored = (stored.lsn, stored.tables) if stored else None
    return run, specs, gone, upto


def _prepare(
    ctl: psycopg.Connection[Any], state: StateStore, options: CaptureOptions
) -> tuple[Position | None, Lsn | None]:
    """Make the slot and the stored position agree; return the record and where to start."""
    info = slot.inspect_slot(ctl, options.slot)
    if info is None:
        raise SourceError(f"slot {options.slot} vanished while the capture started")
    slot.check_usable(info)
    if info.active:
        raise SourceError(
            f"slot {options.slot} is in use by process {info.active_pid}: "
            "only one capture may run per slot"
        )
    position = state.latest_position(options.slot)
    confirmed = info.confirmed_flush
    if position is None:
        return None, confirmed
    if confirmed is not None and confirmed > position.lsn:
        raise SourceError(
            f"slot {options.slot} is at {confirmed} but the raw store only holds changes up "
            f"to {position.lsn}: something else consumed the slot, so changes in between are "
            "missing; bootstrap again with `pgcdc snapshot`"
        )
    if confirmed is None or confirmed < position.lsn:
        slot.advance_slot(ctl, options.slot, position.lsn)
        log.info("advanced slot to the stored position", extra={"lsn": str(position.lsn)})
    return position, position.lsn


class _Run:
    """One drain's batching state: cuts batches, writes them, acknowledges them."""

    def __init__(
        self,
        *,
        raw: Store,
        state: StateStore,
        ctl: psycopg.Connection[Any],
        options: CaptureOptions,
        specs: dict[TableName, TableSpec],
        captured: tuple[tuple[str, str], ...],
        result: CaptureResult,
        intent: Intent | None,
        progress: Progress | None,
    ) -> None:
        self.raw, self.state, self.ctl, self.options = raw, state, ctl, options
        self.specs, self.result, self.progress = specs, result, progress
        self.captured = captured
        self.stored: tuple[Lsn, tuple[tuple[str, str], ...]] | None = None
        """The newest position record's LSN and tables (None: no record yet)."""
        self.confirm: Callable[[Lsn], None] = self._advance
        """How an acknowledgement reaches the slot: the stream's flush position in a drain."""
        self.decoder = ColumnarDecoder(self._spec)
        self.forced_cut = intent.last if intent else None
        self.max_rows = intent.max_rows if intent else options.max_batch_rows
        self.max_bytes = intent.max_bytes if intent else options.max_batch_bytes
        self.first: Lsn | None = None  # commit LSN of the batch's first transaction with rows
        self.current: Begin | None = None
        self.last_commit: Lsn | None = None
        self.txn_start = (0, 0)  # decoder rows and bytes when the open transaction began
        self.part: int | None = None  # part number once the batch spans several flushes
        self.opened = 0.0

    def _spec(self, table: TableName) -> TableSpec:
        spec = self.specs.get(table)
        if spec is None:
            raise SourceError(f"change for {table}, which is not among the captured tables")
        return spec

    def consume(self, rows: Any, started: float, *, end: Lsn | None = None) -> bool:
        """Feed every row; False when the time budget stopped the run early. A transaction
        that commits after ``end`` ends the run before its first change: the stream
        delivers the start of one such transaction (its records before ``end``)."""
        budget, beyond = self.options.time_budget, False
        for lsn, xid, data in rows:
            event = self._feed(lsn, xid, data)
            if event is None:
                self._after_row()
            elif isinstance(event, Begin):
                if end is not None and event.commit_lsn > end:
                    beyond = True  # the next drain reads it whole
                    break
                self.current = event
                self.txn_start = (self.decoder.rows, self.decoder.nbytes)
            elif isinstance(event, Commit):
                self.current = None
                self.last_commit = event.commit_lsn
                if self._close_now(event):
                    self.flush(event.commit_lsn, final=True)
                if budget is not None and time.monotonic() - started > budget:
                    if self.decoder.rows:
                        self.flush(event.commit_lsn, final=True)
                    self.result.stopped_by_budget = True
                    return False
            elif isinstance(event, Message):
                continue
        if self.decoder.in_transaction and not beyond:
            raise SourceError("the change stream ended inside a transaction")
        if self.decoder.rows and self.last_commit is not None:
            self.flush(self.last_commit, final=True)
        return True

    def _feed(self, lsn: str, xid: str, data: str) -> Begin | Commit | Message | None:
        try:
            return self.decoder.feed(lsn, xid, data)
        except SpecMismatchError as exc:
            table = exc.table or "?"
            fresh = load_specs(self.ctl, self.options.table_filter)
            spec = fresh.get(TableName.parse(table)) if exc.table else None
            if spec is None or spec == self.specs.get(spec.table):
                raise
            log.info("table changed shape; using its new spec", extra={"table": table})
            self.specs[spec.table] = spec
            self.decoder.set_spec(spec)
            return self.decoder.feed(lsn, xid, data)

    def _after_row(self) -> None:
        if self.first is None and self.current is not None:
            self.first = self.current.commit_lsn
            self.opened = time.monotonic()
        # a transaction larger than a batch by itself streams through in parts
        rows, nbytes = self.txn_start
        if (
            self.decoder.rows - rows >= self.max_rows
            or self.decoder.nbytes - nbytes >= self.max_bytes
        ):
            assert self.current is not None
            self.flush(self.current.commit_lsn, final=False)
            self.txn_start = (0, 0)

    def _close_now(self, commit: Commit) -> bool:
        if self.part is not None:
            return True  # a batch split into parts ends with the transaction that split it
        if self.forced_cut is not None:
            return commit.commit_lsn >= self.forced_cut
        if not self.decoder.rows:
            return False
        return (
            self.decoder.rows >= self.max_rows
            or self.decoder.nbytes >= self.max_bytes
            or time.monotonic() - self.opened >= self.options.max_batch_seconds
        )

    def flush(self, last: Lsn, *, final: bool) -> None:
        """Write what is gathered; on the final flush of a batch, store and acknowledge it."""
        first = self.first or last
        part = self.part
        if not final or part is not None:
            part = 0 if part is None else part
        if part in (None, 0):
            self._save_intent(first, last)
        tables = self.decoder.take()
        self._write(tables, first, last, part)
        self.part = None if final else (part or 0) + 1
        if final:
            checkpoint(Point.AFTER_DATA)
            self.acknowledge(last)
            self.first = None
            self.forced_cut = None
            self.result.batches += 1

    def _save_intent(self, first: Lsn, last: Lsn) -> None:
        self.state.save_intent(
            Intent(
                slot=self.options.slot,
                first=first,
                last=last,
                max_rows=self.max_rows,
                max_bytes=self.max_bytes,
            )
        )
        checkpoint(Point.AFTER_INTENT)

    def _write(self, tables: list[TableBatch], first: Lsn, last: Lsn, part: int | None) -> None:
        for i, batch in enumerate(tables):
            if i == 1:
                checkpoint(Point.DURING_DATA)
            commit_ts = batch.data.column("_commit_ts")[0].as_py()
            key = layout.change_file_key(batch.table, commit_ts, first, last, part)
            size = self.raw.write_parquet(key, batch.data)
            ops = pc.value_counts(batch.data.column("_op")).to_pylist()
            counts = {o["values"]: o["counts"] for o in ops}
            self.result.changes.update(counts)
            self.result.rows += batch.data.num_rows
            self.result.files += 1
            self.result.bytes_written += size
            log.info(
                "wrote changes",
                extra={
                    "table": str(batch.table),
                    "key": key,
                    "rows": batch.data.num_rows,
                    "ops": counts,
                    "first_lsn": str(first),
                    "last_lsn": str(last),
                    "bytes": size,
                },
            )
        if self.progress:
            self.progress(self.result)

    def acknowledge(self, lsn: Lsn) -> None:
        """Store the position, then move the slot there (both forward only). A position
        not past the current one is stored only when the record is missing or names other
        tables (the first drain of a new slot; a table dropped from the capture)."""
        if self.result.position is not None and lsn <= self.result.position:
            if self.stored is not None and self.stored[1] == self.captured:
                return
            lsn = self.result.position
        self.state.save_position(
            Position(
                slot=self.options.slot,
                lsn=lsn,
                written_at=dt.datetime.now(dt.UTC),
                batches=self.result.batches,
                rows=self.result.rows,
                tables=self.captured,
            )
        )
        self.stored = (lsn, self.captured)
        checkpoint(Point.AFTER_POSITION)
        self.confirm(lsn)
        self.result.position = lsn

    def _advance(self, lsn: Lsn) -> None:
        """Move the slot with ``pg_replication_slot_advance`` (no stream open on it)."""
        try:
            slot.advance_slot(self.ctl, self.options.slot, lsn)
        except psycopg.Error as exc:
            raise translate(exc, f"advancing slot {self.options.slot}") from None
