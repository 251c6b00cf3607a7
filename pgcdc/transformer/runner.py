"""One transform run: new raw changes → versions, current states, star-schema rows.

The run reads each captured table's changes after the previous batch's bound up to the
capture position, folds them (:mod:`pgcdc.transformer.fold`), writes each table's changed current
rows and every target's new rows as new Parquet objects, then the batch manifest, last (it
records the newest commit time folded so far, which the loader keeps for freshness).
Idempotent: a run that crashed before its manifest is redone from the same position, and
with the same input it rewrites the same objects with the same content.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pgcdc.schemas.faults import Point, checkpoint
from pgcdc.schemas.lsn import ZERO, Lsn
from pgcdc.schemas.processed import (
    COUNT,
    PREVIOUS,
    Batch,
    Kind,
    Output,
    TableProgress,
    TransformCheck,
    expand_counts,
    mirror_key,
    table_entry,
    target_key,
)
from pgcdc.schemas.tables import TableName
from pgcdc.schemas.wording import counted
from pgcdc.storage import Store
from pgcdc.transformer import quality
from pgcdc.transformer.batches import latest_batch, save_batch, save_check
from pgcdc.transformer.fold import Folded, apply_delta, fold_changes, with_departed
from pgcdc.transformer.model import Target, load_model
from pgcdc.transformer.rawlog import capture_bound, captured_tables, new_objects, read_changes
from pgcdc.transformer.tablestate import MAX_DELTAS, TableState, sorted_by_key, with_deleted
from pgcdc.transformer.targets import changed_dimension_rows, iso_4217, run_sql

log = logging.getLogger("pgcdc.transformer")


@dataclass
class TransformResult:
    """What a run did (``run`` is None when there was nothing new; ``checked`` is then the
    bound it read up to, when the capture had moved on without a captured change)."""

    run: int | None = None
    checked: Lsn | None = None
    changes: int = 0
    tables: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        """One line for a terminal."""
        if self.run is None:
            upto = f" up to {self.checked}" if self.checked is not None else ""
            return f"transform: nothing new{upto}, no batch"
        return (
            f"transform: batch {self.run}: {counted(self.changes, 'change')} of "
            f"{counted(self.tables, 'table')} → "
            f"{counted(sum(self.rows.values()), 'warehouse row')}, "
            f"{self.quarantined:,} quarantined, in {self.seconds:.2f} s"
        )


@dataclass
class _TableRun:
    table: TableName
    progress: TableProgress
    versions: pa.Table | None
    before: Callable[[], pa.Table]
    after: Callable[[], pa.Table]
    empty: pa.Table
    mirror: Output | None = None


@dataclass
class _Run:
    raw: Store
    processed: Store
    con: duckdb.DuckDBPyConnection
    run: int
    bound: Lsn
    day: dt.date
    previous: Batch | None
    model_dir: Path | None = None
    newest_commit: dt.datetime | None = None
    """The newest ``_commit_ts`` folded so far (starts at the previous batch's)."""

    def note_commits(self, rows: pa.Table) -> None:
        """Raise ``newest_commit`` to the newest commit time of ``rows`` (never lower it)."""
        newest = pc.max(rows.column("_commit_ts")).as_py()
        if newest is not None and (self.newest_commit is None or newest > self.newest_commit):
            self.newest_commit = newest


def transform(
    raw: Store,
    processed: Store,
    *,
    slot: str,
    model_dir: Path | None = None,
    now: dt.datetime | None = None,
) -> TransformResult:
    """Transform the changes captured since the last run into one new batch."""
    began = time.monotonic()
    last = latest_batch(processed)
    bound = capture_bound(raw, slot)
    if bound is None or (last is not None and bound <= last.bound):
        return TransformResult(seconds=time.monotonic() - began)
    now = now or dt.datetime.now(dt.UTC)
    if not _has_new_changes(raw, last, bound):
        # The bound moved over other tables' WAL only: an empty batch would
        # tell the loader nothing. The next batch starts at the same table positions.
        check = TransformCheck(run=last.run if last else 0, bound=bound, checked_at=now)
        save_check(processed, check)
        log.info("transform: nothing new up to %s, no batch", bound)
        return TransformResult(checked=bound, seconds=time.monotonic() - began)
    con = duckdb.connect()
    try:
        ctx = _Run(
            raw,
            processed,
            con,
            (last.run + 1) if last else 1,
            bound,
            now.date(),
            last,
            model_dir=model_dir,
        )
        result = _write_batch(ctx, now)
    finally:
        # the run's in-memory database holds every table it folded: free it now, not when
        # a warm Lambda or a --follow loop happens to collect the connection
        con.close()
    result.seconds = time.monotonic() - began
    log.info(result.describe(), extra={"run": result.run, "changes": result.changes})
    return result


def _write_batch(ctx: _Run, now: dt.datetime) -> TransformResult:
    """Fold every captured table, compute the targets, write the objects, then the manifest."""
    last = ctx.previous
    ctx.newest_commit = last.newest_commit if last else None
    log.info("transform: batch %d: reading changes up to bound %X", ctx.run, ctx.bound)
    tables = [t for t in (_fold_table(ctx, tb) for tb in captured_tables(ctx.raw)) if t]
    result = TransformResult(run=ctx.run, tables=sum(1 for t in tables if t.versions))
    result.changes = sum(t.versions.num_rows for t in tables if t.versions is not None)
    outputs = [t.mirror for t in tables if t.mirror] + _targets(ctx, tables, result)
    checkpoint(Point.TRANSFORM_BEFORE_MANIFEST)
    save_batch(
        ctx.processed,
        Batch(
            run=ctx.run,
            bound=ctx.bound,
            created_at=now,
            changes=result.changes,
            tables={table_entry(t.table): t.progress for t in tables},
            outputs=tuple(outputs),
            newest_commit=ctx.newest_commit,
        ),
    )
    checkpoint(Point.TRANSFORM_AFTER_MANIFEST)
    return result


def _has_new_changes(raw: Store, last: Batch | None, bound: Lsn) -> bool:
    """Whether any captured table has an object after its position, up to ``bound`` (an
    object holds whole capture batches, so one listed is one with a change in range)."""
    for table in captured_tables(raw):
        prog = last.progress_of(table) if last else None
        if new_objects(raw, table, prog.position if prog else ZERO, bound):
            return True
    return False


def _fold_table(ctx: _Run, table: TableName) -> _TableRun | None:
    """Fold one table's new changes; write its delta (or new base) object."""
    prog = ctx.previous.progress_of(table) if ctx.previous else None
    found = read_changes(ctx.raw, table, prog.position if prog else ZERO, ctx.bound)
    key = prog.key if prog else (found.key if found else ())
    if not key:
        if found and found.rows is not None:
            log.warning("%s has no key: not folded into current state", table.qualified)
        return None
    state_objects = prog.state if prog else ()
    rows = found.rows if found else None
    empty = _empty_state(ctx, state_objects, rows)
    if empty is None:
        return None
    shape = _Shape.of(prog, key, empty)
    empty = empty.drop_columns([c for c in (COUNT,) if c in empty.column_names])
    state = TableState(ctx.processed, state_objects, shape.fold_key, shape.empty, ctx.con)
    before = functools.cache(lambda: state(None))
    if rows is None:
        progress = TableProgress(
            position=ctx.bound, key=key, state=state_objects, multiset=shape.multiset
        )
        view = shape.rows_of(before)
        return _TableRun(table, progress, None, view, view, empty)
    ctx.note_commits(rows)
    folded = fold_changes(ctx.con, rows, key, state, multiset=shape.multiset, name=table.qualified)
    objects, mirror, after = _write_folded(
        ctx, table, shape=shape, folded=folded, state_objects=state_objects, before=before
    )
    progress = TableProgress(position=ctx.bound, key=key, state=objects, multiset=shape.multiset)
    return _TableRun(
        table, progress, folded.versions, shape.rows_of(before), shape.rows_of(after), empty, mirror
    )


@dataclass(frozen=True)
class _Shape:
    """How a table's state is kept: by its key, or (no key) as a multiset of whole rows."""

    key: tuple[str, ...]
    multiset: bool
    empty: pa.Table
    """An empty state table (a multiset's has ``_count``)."""

    @classmethod
    def of(cls, prog: TableProgress | None, key: tuple[str, ...], empty: pa.Table) -> _Shape:
        """A table whose key covers every column has no key of its own (REPLICA IDENTITY
        FULL without a primary key): a multiset. Once one, always one (a column added later
        is not in the key the table was first seen with)."""
        columns = [c for c in empty.column_names if c != COUNT]
        multiset = bool(prog and prog.multiset) or set(columns) <= set(key)
        if multiset and COUNT not in empty.column_names:
            empty = empty.append_column(pa.field(COUNT, pa.int64()), pa.array([], pa.int64()))
        return cls(key, multiset, empty)

    @property
    def fold_key(self) -> tuple[str, ...]:
        """What identifies a state row: the key, or every column of a multiset."""
        if not self.multiset:
            return self.key
        return tuple(c for c in self.empty.column_names if c != COUNT)

    def rows_of(self, state: Callable[[], pa.Table]) -> Callable[[], pa.Table]:
        """The table's rows from its state (a multiset's counts expanded), for the model."""
        if not self.multiset:
            return state
        return functools.cache(lambda: expand_counts(state()))


def _write_folded(
    ctx: _Run,
    table: TableName,
    *,
    shape: _Shape,
    folded: Folded,
    state_objects: tuple[str, ...],
    before: Callable[[], pa.Table],
) -> tuple[tuple[str, ...], Output, Callable[[], pa.Table]]:
    """Write the new state object(s): (state objects, the mirror output, the new state)."""
    key, mirror_of = (
        shape.fold_key,
        functools.partial(
            Output,
            target=table_entry(table),
            kind=Kind.MIRROR,
            key=shape.key,
            multiset=shape.multiset,
        ),
    )
    if folded.state is not None:
        new_state = folded.state
        obj = _write_state(ctx, table, key, with_deleted(new_state), base=True)
        return (obj,), mirror_of(objects=(obj,), replace=True), lambda: new_state
    assert folded.delta is not None
    delta = folded.delta
    after = functools.cache(lambda: apply_delta(ctx.con, before(), delta, key))
    obj = _write_state(ctx, table, key, delta, base=False)
    objects = (*state_objects, obj)
    if len(objects) > MAX_DELTAS:
        objects = (_write_state(ctx, table, key, with_deleted(after()), base=True),)
    return objects, mirror_of(objects=(obj,)), after


def _empty_state(ctx: _Run, objects: tuple[str, ...], rows: pa.Table | None) -> pa.Table | None:
    """An empty table with the state's columns (from the changes, else the newest object)."""
    if rows is not None:
        return rows.select([c for c in rows.column_names if not c.startswith("_")]).slice(0, 0)
    if not objects:
        return None
    schema = ctx.processed.read_schema(objects[-1])
    drop = [n for n in ("_deleted", PREVIOUS) if n in schema.names]
    return schema.empty_table().drop_columns(drop)


def _write_state(
    ctx: _Run, table: TableName, key: tuple[str, ...], rows: pa.Table, *, base: bool
) -> str:
    obj = mirror_key(table, ctx.run, ctx.bound, ctx.day, base=base)
    ctx.processed.write_parquet(obj, sorted_by_key(ctx.con, rows, key), row_group_size=65536)
    checkpoint(Point.TRANSFORM_OBJECT)
    return obj


_VERSION_META = pa.schema(
    [
        ("_lsn", pa.int64()),
        ("_seq", pa.int64()),
        ("_commit_ts", pa.timestamp("us", tz="UTC")),
        ("_deleted", pa.bool_()),
    ]
)


def _targets(ctx: _Run, tables: list[_TableRun], result: TransformResult) -> list[Output]:
    """Compute every model target whose sources are captured; write the new rows."""
    by_name = {t.table.qualified: t for t in tables}
    produced: dict[str, pa.Table] = {}
    quarantined: list[dict[str, object]] = []
    outputs = []
    for target in load_model(ctx.model_dir):
        if target.kind == Kind.FACT:
            rows = _fact(ctx, target, by_name, quarantined)
        elif target.kind == Kind.DIMENSION:
            rows = _dimension(ctx, target, by_name)
        else:
            have = all(s in produced for s in target.sources)
            rows = (
                run_sql(ctx.con, target, {s: produced[s] for s in target.sources}) if have else None
            )
        if rows is None:
            continue
        produced[target.name] = rows
        if rows.num_rows:
            outputs.append(
                _write_target(
                    ctx,
                    rows,
                    name=target.name,
                    kind=target.kind,
                    key=target.key,
                    entity=target.entity,
                )
            )
            result.rows[target.name] = rows.num_rows
    if quarantined:
        rows = quality.quarantine_table(ctx.con, quarantined)
        outputs.append(
            _write_target(
                ctx, rows, name="quarantine", kind=Kind.QUARANTINE, key=("quarantine_id",)
            )
        )
        result.quarantined = rows.num_rows
    return outputs


def _fact(
    ctx: _Run, target: Target, tables: dict[str, _TableRun], quarantined: list[dict[str, object]]
) -> pa.Table | None:
    """A fact's rows: one per new version of its source that passes the checks."""
    (source,) = target.source_tables()
    run = tables.get(source.qualified)
    if run is None:
        return None
    versions = run.versions
    if versions is None:
        versions = pa.schema(list(run.empty.schema) + list(_VERSION_META)).empty_table()
    good, bad = quality.split_bad(ctx.con, target, source, versions, run.progress.key)
    quarantined.extend(bad)
    return run_sql(ctx.con, target, {source.name: good})


def _dimension(ctx: _Run, target: Target, tables: dict[str, _TableRun]) -> pa.Table | None:
    """A dimension's new or changed rows, when any of its sources changed."""
    runs = [tables.get(s.qualified) for s in target.source_tables()]
    if any(r is None for r in runs) or all(r.versions is None for r in runs if r):
        return None
    iso = iso_4217()
    before = {r.table.name: r.before() for r in runs if r} | {"iso_4217": iso}
    after = {r.table.name: _after_with_departed(ctx, r) for r in runs if r} | {"iso_4217": iso}
    return changed_dimension_rows(ctx.con, target, before, after)


def _after_with_departed(ctx: _Run, run: _TableRun) -> pa.Table:
    """A dimension source's rows after the run, with the members it ended (keyed tables
    only: a multiset's rows have no identity to keep)."""
    if run.progress.multiset:
        return run.after()
    return with_departed(ctx.con, run.after(), run.versions, run.progress.key)


def _write_target(
    ctx: _Run,
    rows: pa.Table,
    *,
    name: str,
    kind: Kind,
    key: tuple[str, ...],
    entity: str | None = None,
) -> Output:
    obj = target_key(name, ctx.run, ctx.bound, ctx.day)
    ctx.processed.write_parquet(obj, sorted_by_key(ctx.con, rows, key), row_group_size=65536)
    checkpoint(Point.TRANSFORM_OBJECT)
    return Output(target=name, kind=kind, key=key, entity=entity, objects=(obj,))
