"""Snapshot bootstrap: copy the tables exactly as of the slot's starting point.

The slot is created over a replication connection with
``CREATE_REPLICATION_SLOT … LOGICAL wal2json (SNAPSHOT 'export')``; while that connection
stays open, worker connections import the exported snapshot (``SET TRANSACTION SNAPSHOT`` in
REPEATABLE READ) and see exactly the data committed before the slot's consistent point, so
the stream starts where the copy ends: nothing lost, nothing doubled.

Tables are copied in chunks of heap pages (``ctid`` ranges, a TID range scan) by parallel
workers, with ``COPY … TO STDOUT (FORMAT csv)`` parsed by pyarrow's CSV reader. Every row is
written as a change with ``_op = 'r'`` and ``_lsn`` = the consistent point under
``<table>/snapshot=<lsn>/part-NNNNN.parquet``; a manifest written last
(``snapshot=<lsn>/_manifest.json``) marks the table's snapshot complete, and readers ignore a
snapshot folder without one.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, LiteralString

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from pgcdc.cdc_reader import slot
from pgcdc.cdc_reader.catalog import load_specs, require_identity
from pgcdc.cdc_reader.codec import Flags, from_copy_csv
from pgcdc.cdc_reader.source import connect, open_connection, secrets_of, translate
from pgcdc.cdc_reader.state import Position, StoreStateStore
from pgcdc.cdc_reader.tablebatch import NONFINITE_COLUMN
from pgcdc.schemas import layout
from pgcdc.schemas.errors import SourceError, StorageError, TransientError
from pgcdc.schemas.faults import Point, checkpoint
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.pgtypes import PgType, arrow_field, column_type, source_types_metadata
from pgcdc.schemas.tables import TableFilter, TableName
from pgcdc.schemas.tablespec import TableSpec
from pgcdc.storage import Store
from pgcdc.storage.lake import raw as lake

log = logging.getLogger("pgcdc.snapshot")

_COMMIT_TS = pa.timestamp("us", tz="UTC")

Progress = Callable[[str, int, int], None]  # table, rows copied, bytes written


@dataclass(frozen=True)
class SnapshotOptions:
    """What to copy and how."""

    slot: str
    table_filter: TableFilter = field(default_factory=TableFilter)
    tables: tuple[TableName, ...] = ()
    workers: int = 2
    chunk_pages: int = 2048  # 16 MB of 8 kB heap pages per chunk


@dataclass
class SnapshotResult:
    """What one snapshot did."""

    lsn: Lsn
    rows: dict[str, int] = field(default_factory=dict)
    bytes_written: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        """One line for people."""
        total = sum(self.rows.values())
        rate = total / self.seconds if self.seconds else 0.0
        return (
            f"snapshot at {self.lsn}: {total:,} rows of {len(self.rows)} tables, "
            f"{self.bytes_written / 1e6:.1f} MB in {self.seconds:.1f} s ({rate:,.0f} rows/s)"
        )


@dataclass(frozen=True)
class _Chunk:
    spec: TableSpec
    part: int
    first_page: int
    last_page: int | None  # None: to the end of the table


def snapshot(
    dsn: str, raw: Store, options: SnapshotOptions, *, progress: Progress | None = None
) -> SnapshotResult:
    """Create the slot with an exported snapshot and copy every captured table as of it.

    With ``options.tables``, re-snapshot only those tables through a temporary slot while
    the main slot (and a running capture) carries on. A snapshot that is refused creates no
    slot: the tables are checked before the slot exists (and again in the snapshot, where
    a refusal drops the slot this run created); a slot of an earlier run is left as it was.
    """
    started = time.monotonic()
    resnapshot = bool(options.tables)
    state = StoreStateStore(raw)
    with connect(dsn, doing="checking the tables to snapshot") as conn:
        _captured_specs(conn, options)  # refused here, nothing is left behind
    finished = lambda name: state.latest_position(name) is not None  # noqa: E731
    with _exported(dsn, options.slot, temporary=resnapshot, finished=finished) as (
        lsn,
        snapshot_name,
    ):
        specs = _specs(dsn, snapshot_name, options)
        result = SnapshotResult(lsn)
        with connect(dsn, doing="locking the snapshot's tables") as holder:
            specs = _hold_tables(holder, snapshot_name, specs, explicit=resnapshot)
            chunks = _plan(dsn, snapshot_name, specs, options.chunk_pages)
            taken_at = dt.datetime.now(dt.UTC)
            copier = _Copier(
                holder=holder,
                dsn=dsn,
                raw=raw,
                slot_name=options.slot,
                snapshot_name=snapshot_name,
                lsn=lsn,
                taken_at=taken_at,
                result=result,
                progress=progress,
            )
            copier.run(chunks, options.workers)
            for spec in specs.values():
                _write_manifest(raw, spec, lsn, copier.parts_of(spec.table), result)
    if not resnapshot:
        state.save_position(
            Position(
                slot=options.slot,
                lsn=lsn,
                written_at=dt.datetime.now(dt.UTC),
                tables=tuple((t.schema, t.name) for t in sorted(specs)),
            )
        )
    result.seconds = time.monotonic() - started
    log.info(result.describe(), extra={"slot": options.slot, "lsn": str(lsn)})
    return result


class _exported:  # noqa: N801 - used as a context manager, like contextlib's helpers
    """A replication connection holding a new slot's exported snapshot open."""

    def __init__(
        self, dsn: str, slot_name: str, *, temporary: bool, finished: Callable[[str], bool]
    ) -> None:
        self.dsn, self.slot, self.temporary = dsn, slot_name, temporary
        self.finished = finished
        self.conn: psycopg.Connection[Any] | None = None
        self.created: str | None = None  # the slot this run created, once it exists

    def __enter__(self) -> tuple[Lsn, str]:
        name = self.slot + (f"_resnap_{int(time.time() * 1000)}" if self.temporary else "")
        if not self.temporary:
            self._clear_unfinished(name)
        try:
            self.conn = open_connection(self.dsn, replication=True)
        except psycopg.Error as exc:
            raise translate(
                exc, "opening a replication connection", secrets=secrets_of(self.dsn)
            ) from None
        try:
            lsn, exported = slot.create_exported(self.conn, name, temporary=self.temporary)
        except BaseException:
            self.conn.close()
            raise
        self.created = name
        log.info("slot created", extra={"slot": name, "lsn": str(lsn), "snapshot": exported})
        return lsn, exported

    def __exit__(self, failed: type[BaseException] | None, *exc: object) -> None:
        if self.conn is not None:
            self.conn.close()
        if failed is not None and self.created and not self.temporary:
            # The exported snapshot died with the connection: the slot cannot serve any
            # later run, so it goes now instead of pinning WAL (a temporary slot went already).
            self._drop_created(self.created)

    def _drop_created(self, name: str) -> None:
        try:
            with connect(self.dsn, doing="dropping the unfinished snapshot's slot") as ctl:
                slot.drop_unused(ctl, name, "the snapshot failed")
        except Exception as exc:
            log.warning("could not drop slot %s: %s", name, exc, extra={"slot": name})

    def _clear_unfinished(self, name: str) -> None:
        """Refuse a finished bootstrap; drop the slot of one that never finished.

        An exported snapshot dies with the connection that exported it, so a bootstrap
        interrupted by the end of its process cannot be resumed: it starts over with a new
        slot and snapshot, and its unfinished parts (no manifest) are never read.
        """
        with connect(self.dsn) as ctl:
            existing = slot.inspect_slot(ctl, name)
            if existing is None:
                return
            slot.check_kind(existing)  # another plugin's or database's slot is not ours to drop
            if self.finished(name):
                raise SourceError(
                    f"slot {name} exists already and the raw store holds its bootstrap: "
                    "re-snapshot tables with `pgcdc snapshot --table`, or drop the slot to "
                    "start over"
                )
            log.warning(
                "an earlier snapshot did not finish and its exported snapshot has expired: "
                "dropping its slot and starting over with a new one",
                extra={"slot": name},
            )
            slot.drop_slot(ctl, name)


# How long a copy waits for a table's lock before copying through the connection that holds
# it: a DDL statement queued behind the snapshot's lock makes later lock requests wait too.
_LOCK_TIMEOUT = "1s"


class _LockBusyError(Exception):
    """A worker could not lock a table in time: a DDL statement is queued for it."""


def _in_snapshot(
    conn: psycopg.Connection[Any], snapshot_name: str, *, lock_timeout: str | None = None
) -> None:
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    if lock_timeout:
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(lock_timeout)))
    try:
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot_name)))
    except psycopg.Error as exc:
        raise SourceError(
            f"cannot import snapshot {snapshot_name} (it expires when the connection that "
            f"exported it closes): {exc}"
        ) from None


def _specs(dsn: str, snapshot_name: str, options: SnapshotOptions) -> dict[TableName, TableSpec]:
    """The captured tables as the snapshot sees them."""
    with connect(dsn) as conn:
        _in_snapshot(conn, snapshot_name)
        specs = _captured_specs(conn, options)
        conn.execute("COMMIT")
    return specs


def _captured_specs(
    conn: psycopg.Connection[Any], options: SnapshotOptions
) -> dict[TableName, TableSpec]:
    """The tables to copy; SourceError when there is none, or one cannot be read or captured."""
    specs = load_specs(conn, options.table_filter)
    denied = [
        t
        for t in sorted(specs)
        if not _one_bool(conn, "SELECT has_table_privilege(%s::regclass, 'SELECT')", t.sql)
    ]
    if denied:
        names = ", ".join(str(t) for t in denied)
        grants = "; ".join(f"GRANT SELECT ON {t.sql} TO <role>" for t in denied)
        raise SourceError(f"no SELECT privilege on {names}: {grants} (or exclude them)")
    if options.tables:
        missing = [str(t) for t in options.tables if t not in specs]
        if missing:
            raise SourceError(f"not captured tables (or missing): {', '.join(missing)}")
        specs = {t: specs[t] for t in options.tables}
    if not specs:
        raise SourceError("no table to snapshot: check PGCDC_TABLES / PGCDC_EXCLUDE_TABLES")
    require_identity(specs)
    return specs


def _hold_tables(
    conn: psycopg.Connection[Any],
    snapshot_name: str,
    specs: dict[TableName, TableSpec],
    *,
    explicit: bool,
) -> dict[TableName, TableSpec]:
    """Take ACCESS SHARE locks on the tables for as long as ``conn``'s transaction lives.

    As pg_dump does: a concurrent ``DROP TABLE`` or ``ALTER TABLE`` then waits for the copy
    instead of making it fail half-way (the copy reads the table's rows as of the snapshot,
    but its definition as of now). A table dropped between the slot's creation and these
    locks no longer exists to be read: it is left out with a warning (or, when it was asked
    for by name, the re-snapshot fails saying so).
    """
    _in_snapshot(conn, snapshot_name)
    held: dict[TableName, TableSpec] = {}
    for table, spec in sorted(specs.items()):
        conn.execute("SAVEPOINT pgcdc_lock")
        try:
            conn.execute(
                sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(
                    sql.Identifier(table.schema, table.name)
                )
            )
        except psycopg.errors.UndefinedTable:
            conn.execute("ROLLBACK TO SAVEPOINT pgcdc_lock")
            if explicit:
                raise SourceError(f"table {table} was dropped before it could be copied") from None
            log.warning(
                "table dropped after the slot was created: not in the snapshot",
                extra={"table": str(table)},
            )
            continue
        conn.execute("RELEASE SAVEPOINT pgcdc_lock")
        held[table] = spec
    if not held:
        raise SourceError("every table to snapshot was dropped before it could be copied")
    return held


def _one_bool(conn: psycopg.Connection[Any], query: LiteralString, value: str) -> bool:
    row = conn.execute(query, (value,)).fetchone()
    return bool(row and row[0])


def _plan(
    dsn: str, snapshot_name: str, specs: dict[TableName, TableSpec], chunk_pages: int
) -> list[_Chunk]:
    """Chunks of heap pages per table, largest tables first (they decide the wall time)."""
    chunks: list[_Chunk] = []
    with connect(dsn) as conn:
        _in_snapshot(conn, snapshot_name)
        for table, spec in sorted(specs.items(), key=lambda kv: -_pages(conn, kv[0])):
            pages = _pages(conn, table)
            starts = list(range(0, max(pages, 1), chunk_pages))
            for part, first in enumerate(starts):
                last = starts[part + 1] if part + 1 < len(starts) else None
                chunks.append(_Chunk(spec, part, first, last))
        conn.execute("COMMIT")
    return chunks


def _pages(conn: psycopg.Connection[Any], table: TableName) -> int:
    row = conn.execute(
        "SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int",
        (table.sql,),
    ).fetchone()
    return int(row[0]) if row else 0


class _Copier:
    """Worker threads copying chunks; each worker has its own connection in the snapshot."""

    def __init__(
        self,
        *,
        holder: psycopg.Connection[Any],
        dsn: str,
        raw: Store,
        slot_name: str,
        snapshot_name: str,
        lsn: Lsn,
        taken_at: dt.datetime,
        result: SnapshotResult,
        progress: Progress | None,
    ) -> None:
        self.dsn, self.raw, self.snapshot_name, self.lsn = dsn, raw, snapshot_name, lsn
        self.slot = slot_name
        self.taken_at, self.result, self.progress = taken_at, result, progress
        self.lock = threading.Lock()
        self.holder, self.holder_lock = holder, threading.Lock()
        self.parts: dict[TableName, list[tuple[str, int]]] = {}
        self.errors: list[BaseException] = []

    def run(self, chunks: list[_Chunk], workers: int) -> None:
        """Copy every chunk; raises the first worker error."""
        todo: queue.Queue[_Chunk] = queue.Queue()
        for chunk in chunks:
            todo.put(chunk)
        threads = [
            threading.Thread(target=self._work, args=(todo,), daemon=True)
            for _ in range(max(1, min(workers, len(chunks))))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self.errors:
            raise self.errors[0]

    def parts_of(self, table: TableName) -> list[tuple[str, int]]:
        """(key, rows) of the table's parts, in part order."""
        return sorted(self.parts.get(table, []))

    def _work(self, todo: queue.Queue[_Chunk]) -> None:
        """Copy chunks until none is left; a lost connection is replaced (the snapshot is
        still valid while the exporting connection lives) and only its chunk is redone."""
        attempts = 0
        while not self.errors:
            try:
                with connect(self.dsn, doing="copying a snapshot chunk") as conn:
                    _in_snapshot(conn, self.snapshot_name, lock_timeout=_LOCK_TIMEOUT)
                    while not self.errors:
                        try:
                            chunk = todo.get_nowait()
                        except queue.Empty:
                            return
                        try:
                            self._copy(conn, chunk)
                        except TransientError:
                            todo.put(chunk)
                            raise
            except TransientError as exc:
                attempts += 1
                if attempts < 3:
                    log.warning("snapshot worker %s, retrying: %s", _what_failed(exc), exc)
                    continue
                self._fail(exc)
            except BaseException as exc:  # terminal: handed to the main thread, which raises it
                self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        with self.lock:
            self.errors.append(exc)

    def _copy(self, conn: psycopg.Connection[Any], chunk: _Chunk) -> None:
        psql = shutil.which("psql")
        try:
            if psql:
                data = _copy_csv_psql(psql, self.dsn, self.snapshot_name, chunk)
            else:
                data = _copy_csv(conn, chunk, savepoint=True)
        except _LockBusyError:
            # A DROP/ALTER waits for the snapshot's lock, and new lock requests queue
            # behind it: the holder already has the lock, so it copies the chunk.
            log.info(
                "table locked by a waiting DDL statement: copying through the lock holder",
                extra={"table": str(chunk.spec.table), "part": chunk.part},
            )
            with self.holder_lock:
                data = _copy_csv(self.holder, chunk)
        table = _to_arrow(data, chunk.spec, self.lsn, self.taken_at)
        key = layout.snapshot_file_key(chunk.spec.table, self.lsn, chunk.part)
        size = self.raw.write_parquet(key, table)
        lake.save_snapshot_chunk(
            self.raw, self.slot, self.lsn, chunk.spec.table, part=chunk.part, rows=table.num_rows
        )
        checkpoint(Point.SNAPSHOT_PART)
        with self.lock:
            self.parts.setdefault(chunk.spec.table, []).append((key, table.num_rows))
            name = str(chunk.spec.table)
            self.result.rows[name] = self.result.rows.get(name, 0) + table.num_rows
            self.result.bytes_written += size
            if self.progress:
                self.progress(name, self.result.rows[name], size)
        log.info(
            "copied chunk",
            extra={"table": str(chunk.spec.table), "part": chunk.part, "rows": table.num_rows},
        )


def _copy_query(chunk: _Chunk) -> sql.Composed:
    """``COPY (SELECT … WHERE ctid in the chunk's pages) TO STDOUT (FORMAT csv)``."""
    columns = sql.SQL(", ").join(_select_column(c.name, column_type(c)) for c in chunk.spec.columns)
    where = sql.SQL("ctid >= {}::tid").format(sql.Literal(f"({chunk.first_page},0)"))
    if chunk.last_page is not None:
        where += sql.SQL(" AND ctid < {}::tid").format(sql.Literal(f"({chunk.last_page},0)"))
    table = sql.Identifier(chunk.spec.table.schema, chunk.spec.table.name)
    return sql.SQL("COPY (SELECT {} FROM {} WHERE {}) TO STDOUT (FORMAT csv)").format(
        columns, table, where
    )


def _copy_csv_psql(psql: str, dsn: str, snapshot_name: str, chunk: _Chunk) -> pa.Buffer:
    """The chunk's CSV fetched by ``psql`` in the snapshot.

    psycopg hands COPY output over one Python call per row, which holds the interpreter
    lock; psql's C loop does not, so parallel workers really run in parallel. The password
    goes through the environment, never the command line.
    """
    info = {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(dsn).items()}
    env = {**os.environ, "PGPASSWORD": info.pop("password", ""), "PGAPPNAME": "pgcdc"}
    query = _copy_query(chunk).as_string(None)
    set_snapshot = (
        sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot_name)).as_string(None)
    )
    args = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose"]
    args += ["-d", psycopg.conninfo.make_conninfo(**info)]
    args += ["-c", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "-c", set_snapshot]
    args += ["-c", f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'", "-c", query]
    done = subprocess.run(args, env=env, capture_output=True, check=False)
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        if any(line.startswith("ERROR:  55P03") for line in reason):  # lock_not_available
            raise _LockBusyError(str(chunk.spec.table))
        raise SourceError(f"copying {chunk.spec.table} (part {chunk.part}): {'; '.join(reason)}")
    return pa.py_buffer(done.stdout)


def _copy_csv(
    conn: psycopg.Connection[Any], chunk: _Chunk, *, savepoint: bool = False
) -> pa.Buffer:
    """The chunk's rows as Postgres CSV (NULL unquoted-empty, empty string quoted).

    With ``savepoint``, a lock timeout leaves the transaction usable and raises _LockBusyError.
    """
    query = _copy_query(chunk)
    buffer = io.BytesIO()
    try:
        if savepoint:
            conn.execute("SAVEPOINT pgcdc_copy")
        with conn.cursor() as cur, cur.copy(query) as copy:
            for block in copy:
                buffer.write(block)
        if savepoint:
            conn.execute("RELEASE SAVEPOINT pgcdc_copy")
    except psycopg.errors.LockNotAvailable as exc:
        if not savepoint:
            raise translate(exc, f"copying {chunk.spec.table} (part {chunk.part})") from None
        conn.execute("ROLLBACK TO SAVEPOINT pgcdc_copy")
        raise _LockBusyError(str(chunk.spec.table)) from None
    except psycopg.Error as exc:
        raise translate(exc, f"copying {chunk.spec.table} (part {chunk.part})") from None
    return pa.py_buffer(buffer.getbuffer())  # no copy of the chunk's text


def _select_column(name: str, pg: PgType) -> sql.Composable:
    """The column as its kind's registry record has COPY print it."""
    return sql.SQL(pg.info.copy_select).format(sql.Identifier(name))


def _to_arrow(data: pa.Buffer, spec: TableSpec, lsn: Lsn, taken_at: dt.datetime) -> pa.Table:
    """Typed columns per the type contract, then the metadata columns of a snapshot row."""
    columns, nonfinite = from_copy_csv(data, spec.columns)
    n = len(columns[0]) if columns else 0
    fields = [arrow_field(c) for c in spec.columns]
    meta, meta_fields = _metadata(spec, n, lsn, taken_at, nonfinite)
    schema = pa.schema(fields + meta_fields, metadata=source_types_metadata(spec))
    return pa.Table.from_arrays(columns + meta, schema=schema)


def _metadata(
    spec: TableSpec,
    n: int,
    lsn: Lsn,
    taken_at: dt.datetime,
    nonfinite: Flags | None,
) -> tuple[list[pa.Array], list[pa.Field]]:
    """The metadata columns of ``n`` snapshot rows, built without a Python object per row."""
    key_fields = [arrow_field(spec.column(k)) for k in spec.key]
    old_key = pa.nulls(n, pa.struct(key_fields)) if key_fields else pa.nulls(n)
    arrays = [
        pa.repeat(pa.scalar("r", pa.string()), n),
        pa.repeat(pa.scalar(int(lsn), pa.int64()), n),
        pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), n)), 1),
        pa.nulls(n, pa.int64()),
        pa.repeat(pa.scalar(taken_at, _COMMIT_TS), n),
        pa.nulls(n, pa.list_(pa.string())),
        old_key,
    ]
    names = ["_op", "_lsn", "_seq", "_xid", "_commit_ts", "_unchanged", "_old_key"]
    if any(column_type(c).holds_decimal for c in spec.columns):
        kind = pa.map_(pa.string(), pa.string())
        flags = nonfinite or {}
        arrays.append(
            pa.array([flags.get(i) for i in range(n)], kind) if flags else pa.nulls(n, kind)
        )
        names.append(NONFINITE_COLUMN)
    return arrays, [pa.field(name, a.type) for name, a in zip(names, arrays, strict=True)]


def _write_manifest(
    raw: Store, spec: TableSpec, lsn: Lsn, parts: list[tuple[str, int]], result: SnapshotResult
) -> None:
    """The completion marker of one table's snapshot, written after all its parts."""
    lake.save_snapshot_manifest(raw, spec.table, lsn, parts)
    result.rows.setdefault(str(spec.table), 0)


def _what_failed(exc: TransientError) -> str:
    """What a worker's transient failure was, for the line logged before it tries again."""
    return "could not use the raw store" if isinstance(exc, StorageError) else "lost its connection"
