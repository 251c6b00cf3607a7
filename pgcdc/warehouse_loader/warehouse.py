"""A warehouse the loader applies batches to: the steps, whatever the engine.

Each batch is applied in one transaction together with its row in ``pgcdc_load_state`` (its
run, bound, load time and newest source commit time), so a batch is in the warehouse whole,
with its position, or not at all; a batch already recorded there is skipped (idempotent).
Tables are created on first use from the batch's Arrow schema, keyed as the model says;
facts get a ``<fact>_current`` view.

An output the warehouse refuses (a driver error: constraint, type, missing column) does not
stop the batch: the transaction is rolled back and redone without it, and the output is
recorded in ``pgcdc_load_quarantine`` with one ERROR line naming the table and the batch.
Its table is then *held*: its outputs of later batches are quarantined behind it, unapplied,
so the table never takes a change out of order. Held outputs are retried, oldest first, at
the start of every load; a mirror output that replaces the whole table (a snapshot) releases
the outputs before it. A driver error that is not the data's fault (a lost connection, a
conflict) is a TransientError naming the table and the batch; the load stops.
"""

from __future__ import annotations

import abc
import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources

import pyarrow as pa
import pyarrow.compute as pc

from pgcdc.schemas.errors import LoadError, PgcdcError, TransientError
from pgcdc.schemas.faults import Point, checkpoint
from pgcdc.schemas.processed import (
    APPENDED_KINDS,
    COUNT,
    PREVIOUS,
    Batch,
    Kind,
    Output,
    expand_counts,
    mirror_table,
    output_text,
    parse_output,
    parse_table_entry,
)
from pgcdc.warehouse_loader import statements as st

log = logging.getLogger("pgcdc.loader")


class Warehouse(abc.ABC):
    """One warehouse connection; subclasses supply the engine's primitives."""

    param = "?"

    @abc.abstractmethod
    def quote(self, name: str) -> str:
        """Quote one identifier."""

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Run one statement; rows if it returns any."""

    @abc.abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction: commit on success, roll back on error."""

    @abc.abstractmethod
    def stage(self, name: str, rows: pa.Table) -> str:
        """Make ``rows`` readable as a relation in this transaction; its SQL name."""

    @abc.abstractmethod
    def column_types(self, staging: str, rows: pa.Table) -> list[tuple[str, str]]:
        """(column, SQL type) of staged rows, for CREATE TABLE."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection."""

    @abc.abstractmethod
    def driver_error(self, exc: Exception) -> tuple[bool, str] | None:
        """(transient, the driver's reason in one line) when ``exc`` comes from the engine's
        driver; None otherwise. Transient: the connection or a conflict, not the data."""

    def loaded_run(self) -> int:
        """The newest batch applied (0 before the first)."""
        with self.transaction():
            self.ensure_load_state()
            rows = self.execute(f"SELECT max(run) FROM {self.quote(st.LOAD_STATE)}")
        value = rows[0][0] if rows else None
        return int(value) if isinstance(value, int) else 0

    def apply(self, batch: Batch, data: Sequence[tuple[Output, pa.Table]]) -> bool:
        """Apply one batch with its position, in one transaction; False if already applied."""
        return self.apply_batch(batch, data) is not None

    def apply_batch(
        self, batch: Batch, data: Sequence[tuple[Output, pa.Table]]
    ) -> list[LoadError] | None:
        """Apply one batch with its position, in one transaction; None if already applied,
        else the outputs refused (quarantined, each logged as one ERROR line)."""
        refused: dict[int, LoadError] = {}
        while True:
            try:
                with self.transaction():
                    if not self._apply_batch(batch, data, refused):
                        return None
                break
            except _Refused as exc:  # rolled back: redo the batch without that output
                refused[exc.index] = exc.error
        for error in refused.values():
            log.error(
                "%s; quarantined in %s",
                error,
                st.LOAD_QUARANTINE,
                extra={"table": error.table, "batch": error.batch},
            )
        return list(refused.values())

    def _apply_batch(
        self, batch: Batch, data: Sequence[tuple[Output, pa.Table]], refused: dict[int, LoadError]
    ) -> bool:
        """The batch's statements, in the caller's transaction; False if already applied."""
        q, p = self.quote, self.param
        self.ensure_load_state()
        if self.execute(f"SELECT 1 FROM {q(st.LOAD_STATE)} WHERE run = {p}", [batch.run]):
            return False
        held = self.held_targets()
        for index, (output, rows) in enumerate(data):
            target = self.target_name(output)
            replaces = output.kind == Kind.MIRROR and output.replace
            if index not in refused and target in held and not replaces:
                reason = f"held behind its quarantined batch {held[target]}"
                refused[index] = LoadError(reason, table=target, batch=batch.run)
            if index in refused:
                self._quarantine(batch.run, output, refused[index])
                continue
            self.apply_output(index, output, rows, batch.run)
            if target in held:  # a whole new table: what was held before it is obsolete
                self.execute(st.release_outputs(q, p, through=True), [target, batch.run])
            checkpoint(Point.LOAD_OUTPUT)
        self.execute(
            st.record_batch(q, p),
            [batch.run, int(batch.bound), dt.datetime.now(dt.UTC), batch.newest_commit],
        )
        checkpoint(Point.LOAD_BEFORE_COMMIT)
        return True

    def apply_output(self, index: int, output: Output, rows: pa.Table, run: int) -> None:
        """Apply one output in the caller's transaction; a driver error becomes a
        :class:`TransientError` or (the warehouse refused the rows) ``_Refused``."""
        try:
            self._apply_output(index, output, rows)
        except PgcdcError:
            raise
        except Exception as exc:
            found = self.driver_error(exc)
            if found is None:
                raise
            transient, reason = found
            target = self.target_name(output)
            if transient:
                raise TransientError(f"batch {run}: table {target}: {reason}") from None
            raise _Refused(index, LoadError(reason, table=target, batch=run)) from None

    def retry_quarantined(self, read: Callable[[Output], pa.Table]) -> list[LoadError]:
        """Retry the quarantined outputs, oldest first per table, each in its own transaction;
        a table stops at its first output still refused (logged at ERROR). ``read`` gives an
        output's rows. Idempotent: an output applied leaves the quarantine in the same
        transaction."""
        with self.transaction():
            self.ensure_load_state()
            pending = self.execute(st.quarantined_outputs(self.quote))
        still: list[LoadError] = []
        stopped: set[str] = set()
        for run, target, text in pending:
            if target in stopped:
                continue
            output = parse_output(str(text), f"run {run} of {target} in {st.LOAD_QUARANTINE}")
            try:
                with self.transaction():
                    self.apply_output(0, output, read(output), int(str(run)))
                    self.execute(
                        st.release_outputs(self.quote, self.param, through=False), [target, run]
                    )
            except _Refused as exc:
                stopped.add(str(target))
                still.append(exc.error)
                log.error("%s; still quarantined", exc.error, extra={"table": target, "batch": run})
        return still

    def held_targets(self) -> dict[str, int]:
        """Warehouse tables with a quarantined output: target → its oldest quarantined run."""
        rows = self.execute(st.quarantined_outputs(self.quote))
        held: dict[str, int] = {}
        for run, target, _ in rows:
            held.setdefault(str(target), int(str(run)))
        return held

    def _quarantine(self, run: int, output: Output, error: LoadError) -> None:
        self.execute(
            st.quarantine_output(self.quote, self.param),
            [run, error.table, output_text(output), str(error), dt.datetime.now(dt.UTC)],
        )

    def target_name(self, output: Output) -> str:
        """The warehouse table of an output, unquoted (``mirror_public.t``, ``fact_x``)."""
        schema, name = self._table_name(output)
        return f"{schema}.{name}" if schema else name

    def ensure_load_state(self) -> None:
        """Create ``pgcdc_load_state``, or add ``newest_commit`` to one an older pgcdc created.

        Runs in the caller's transaction; idempotent. The column is looked up first, so a
        table that has it is not altered (on PostgreSQL an ALTER would lock it even as a
        no-op).
        """
        self.execute(st.load_state_ddl(self.quote))
        self.execute(st.load_quarantine_ddl(self.quote))
        if st.NEWEST_COMMIT not in self.table_columns(None, st.LOAD_STATE):
            log.info("adding column %s to %s", st.NEWEST_COMMIT, st.LOAD_STATE)
            self.execute(st.load_state_upgrade(self.quote))

    def table_sql(self, output: Output) -> str:
        """The quoted warehouse table of an output."""
        if output.kind == Kind.MIRROR:
            name = mirror_table(parse_table_entry(output.target))
            return f"{self.quote(name.schema)}.{self.quote(name.name)}"
        return self.quote(output.target)

    def _apply_output(self, index: int, output: Output, rows: pa.Table) -> None:
        if output.kind == Kind.MIRROR and output.multiset:
            self._apply_multiset(index, output, rows)
            return
        q = self.quote
        table = self.table_sql(output)
        staging = self.stage(f"_pgcdc_stage_{index}", rows)
        columns = [c for c in rows.column_names if c != "_deleted"]
        if output.kind == Kind.MIRROR:
            self.execute(f"CREATE SCHEMA IF NOT EXISTS {table.rsplit('.', 1)[0]}")
        types = [t for t in self.column_types(staging, rows) if t[0] != "_deleted"]
        self.execute(st.create_table(q, table, types, output.key))
        self._add_new_columns(output, table, types)
        if output.kind in APPENDED_KINDS:
            self.execute(st.insert_new(q, table, staging, columns, output.key))
        elif output.kind == Kind.MIRROR and output.replace:
            self.execute(f"DELETE FROM {table}")
            self.execute(st.insert_rows(q, table, staging, columns, where="WHERE NOT _deleted"))
        else:
            self.execute(st.delete_matching(q, table, staging, output.key))
            where = "WHERE NOT _deleted" if output.kind == Kind.MIRROR else ""
            self.execute(st.insert_rows(q, table, staging, columns, where=where))
        if output.kind == Kind.FACT and output.entity:
            view = q(f"{output.target}_current")
            self.execute(st.current_view(q, view, table, columns, output.entity))

    def _apply_multiset(self, index: int, output: Output, rows: pa.Table) -> None:
        """A mirror without a key: every copy of each changed row is removed (only rows that
        existed before: ``_previous`` > 0) and its new count of copies inserted."""
        q = self.quote
        table = self.table_sql(output)
        copies = expand_counts(rows)
        staging = self.stage(f"_pgcdc_stage_{index}", copies)
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {table.rsplit('.', 1)[0]}")
        types = self.column_types(staging, copies)
        self.execute(st.create_table(q, table, types, ()))
        self._add_new_columns(output, table, types)
        if output.replace:
            self.execute(f"DELETE FROM {table}")
        elif PREVIOUS in rows.column_names:
            gone = rows.filter(pc.greater(rows.column(PREVIOUS), 0))
            gone = gone.drop_columns(
                [c for c in (COUNT, PREVIOUS, "_deleted") if c in gone.column_names]
            )
            if gone.num_rows:
                removed = self.stage(f"_pgcdc_gone_{index}", gone)
                self.execute(st.delete_same_rows(q, table, removed, gone.column_names))
        self.execute(st.insert_rows(q, table, staging, copies.column_names))

    def _add_new_columns(
        self, output: Output, table: str, types: Sequence[tuple[str, str]]
    ) -> None:
        """Add the output's columns the table lacks (the source gained a column, or a model
        file a new one); rows loaded before keep NULL in them. Idempotent."""
        schema, name = self._table_name(output)
        have = set(self.table_columns(schema, name))
        for column, sql_type in types:
            if column not in have:
                log.info(
                    "adding column %s to %s", column, output.target, extra={"table": output.target}
                )
                self.execute(f"ALTER TABLE {table} ADD COLUMN {self.quote(column)} {sql_type}")

    def _table_name(self, output: Output) -> tuple[str | None, str]:
        """(schema, table) of an output's warehouse table; schema None: the default one."""
        if output.kind == Kind.MIRROR:
            name = mirror_table(parse_table_entry(output.target))
            return name.schema, name.name
        return None, output.target

    def table_columns(self, schema: str | None, name: str) -> list[str]:
        """Column names of a table (``schema`` None: the default schema), in order."""
        p = self.param
        where = f"table_schema = {p}" if schema is not None else "table_schema = current_schema()"
        params: list[object] = [schema] if schema is not None else []
        rows = self.execute(
            "SELECT column_name FROM information_schema.columns "
            f"WHERE {where} AND table_name = {p} ORDER BY ordinal_position",
            [*params, name],
        )
        return [str(r[0]) for r in rows]

    def audit(self, data: Sequence[tuple[Output, pa.Table]] = ()) -> list[tuple[str, object, str]]:
        """Run the audits whose tables exist over the batch ``data`` just applied; (target, id,
        problem) of every bad row.

        An audit checks the current version of each entity the batch brought fact rows for
        (the ids are staged as ``pgcdc_audit_scope``): a fact changes only by a new version,
        and dimensions only gain or update rows, so a problem can appear only there, and the
        cost follows the batch, not the warehouse. Each failing row is logged at ERROR: the
        warehouse holds it, but something upstream is wrong (a fact pointing at no dimension
        row, an impossible value).
        """
        existing = self.existing_relations()
        bad: list[tuple[str, object, str]] = []
        folder = resources.files("pgcdc.warehouse_loader").joinpath("audits")
        with self.transaction():
            self.stage(AUDIT_SCOPE, audit_scope(data))
            for entry in sorted(folder.iterdir(), key=lambda e: e.name):
                text = entry.read_text() if entry.name.endswith(".sql") else ""
                if text and set(_header(text, "requires")) <= existing:
                    bad += [(str(t), i, str(p)) for t, i, p in self.execute(text)]
        for target, ident, problem in bad:
            log.error(
                "audit failed: %s id %s: %s",
                target,
                ident,
                problem,
                extra={"target": target, "key": ident, "problem": problem},
            )
        return bad

    @abc.abstractmethod
    def existing_relations(self) -> set[str]:
        """Names of the tables and views in the default schema."""


class _Refused(Exception):  # noqa: N818 - a signal inside apply, never seen outside
    """The warehouse refused output ``index`` of the batch being applied."""

    def __init__(self, index: int, error: LoadError) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


AUDIT_SCOPE = "pgcdc_audit_scope"


def audit_scope(data: Sequence[tuple[Output, pa.Table]]) -> pa.Table:
    """(target, id): the entity ids of every fact output (integer entity columns)."""
    targets: list[str] = []
    ids: list[pa.Array] = []
    for output, rows in data:
        entity = output.entity
        if output.kind != Kind.FACT or not entity or entity not in rows.column_names:
            continue
        column = rows.column(entity)
        if pa.types.is_integer(column.type):
            ids.append(pc.unique(column.combine_chunks()).cast(pa.int64()))
            targets += [output.target] * len(ids[-1])
    return pa.table(
        {
            "target": pa.array(targets, pa.string()),
            "id": pa.concat_arrays(ids) if ids else pa.array([], pa.int64()),
        }
    )


def _header(text: str, name: str) -> list[str]:
    for line in text.splitlines():
        if line.startswith(f"-- {name}:"):
            return [w.strip() for w in line.split(":", 1)[1].split(",") if w.strip()]
    return []
