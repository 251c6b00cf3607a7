"""`pgcdc query`: one DuckDB session over the lake, with ready views.

For every table ``<schema>.<table>`` of the raw store (DuckDB schema = the source schema, put
on the search path, so ``staff`` finds ``public.staff``):

- ``<table>_history``: every change in ``(LSN, seq)`` order: ``_op`` (``insert``, ``update``,
  ``delete``, ``truncate``, ``snapshot``), ``_lsn`` (``pg_lsn`` text, e.g. ``0/16B3748``),
  ``_commit_ts`` (UTC), the table's own columns, then ``_seq``, ``_xid``, ``_unchanged``,
  ``_old_key`` and ``_lsn_int`` (the LSN as a BIGINT, for comparisons);
- ``<table>``: its current state (the rules of :mod:`pgcdc.transformer.current_state`);
- ``<table>_as_of(point)``: a table macro, the state as of ``point``: an LSN (``'0/16B3748'``
  or a BIGINT: changes committed at or before it) or a timestamp (``TIMESTAMPTZ '…'`` or its
  text: changes committed at or before it).

Tables without a key get the history view only. Scalar macros ``pg_lsn(text)`` (→ BIGINT) and
``lsn_text(bigint)`` (→ ``pg_lsn`` text) help with LSNs.

The processed store is schema ``processed`` (on the search path after the source schemas),
holding what the loader makes of the committed
batches: a dimension (or derived, e.g. ``dim_date``) target is its current rows, the newest
run's row per key (type 1: the loader upserts by key and never deletes a dimension row); a
fact and ``quarantine`` are every row batches wrote (a fact is one row per source version,
``deleted`` marking a delete), and ``<fact>_current`` is each entity's newest version unless
deleted (the warehouse view of that name); ``mirror_<schema>_<table>`` is a captured table's
current state as of the newest batch, and ``batches`` one row per manifest. A DuckDB-file
warehouse is attached read-only as catalog ``warehouse`` (:func:`interactive` attaches it per
statement, so an idle prompt does not keep the loader out of the file); a PostgreSQL
warehouse is not attached (DuckDB's postgres extension would have to be downloaded), the
processed views hold the same rows.

Objects are read through :class:`pgcdc.storage.Store`'s pyarrow filesystem (local or S3), never
through a DuckDB extension, so nothing is downloaded at run time. Only objects a reader may
use are read: complete snapshots, and processed objects that a manifest lists.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from pgcdc.readside.warehouse import attach_read_only, duckdb_file
from pgcdc.schemas.errors import ConfigurationError, TransientError
from pgcdc.schemas.pgtypes import source_key
from pgcdc.schemas.processed import (
    APPENDED_KINDS,
    COUNT,
    PREVIOUS,
    Batch,
    Kind,
    Output,
    TableProgress,
    parse_table_entry,
)
from pgcdc.schemas.tables import TableName, quote_ident
from pgcdc.storage import Store
from pgcdc.storage.lake.processed import committed_batches
from pgcdc.storage.lake.raw import captured_tables, table_objects
from pgcdc.transformer.current_state import META, current_state_sql
from pgcdc.warehouse_loader.statements import current_view

log = logging.getLogger("pgcdc.query")

OP_NAMES = {"r": "snapshot", "c": "insert", "u": "update", "d": "delete", "t": "truncate"}
RESERVED_SCHEMAS = frozenset({"main", "processed", "warehouse", "temp", "system"})

_LSN_MACROS = (
    """CREATE OR REPLACE MACRO main.pg_lsn(t) AS
       (CAST('0x' || split_part(CAST(t AS VARCHAR), '/', 1) AS BIGINT) << 32)
       + CAST('0x' || split_part(CAST(t AS VARCHAR), '/', 2) AS BIGINT)""",
    """CREATE OR REPLACE MACRO main.lsn_text(n) AS
       format('{:X}/{:X}', CAST(n AS BIGINT) >> 32, CAST(n AS BIGINT) & 4294967295)""",
)


@dataclass(frozen=True)
class LakeTable:
    """One raw-store table as the session sees it."""

    table: TableName
    columns: tuple[str, ...]
    key: tuple[str, ...]
    objects: int


@dataclass(frozen=True)
class Session:
    """An open DuckDB connection with the views, and what they cover."""

    con: duckdb.DuckDBPyConnection
    tables: tuple[LakeTable, ...]
    processed_views: tuple[str, ...]
    warehouse: str | None
    """The DuckDB warehouse file; attached unless ``held`` is False."""
    held: bool = True
    """False: the file is attached only around a statement (:meth:`warehouse_attached`)."""
    raw_uri: str | None = None
    """The raw store the views read."""

    @property
    def empty_raw_store(self) -> str | None:
        """The raw store's URI when it holds no captured table (None otherwise)."""
        return None if self.tables else self.raw_uri

    def close(self) -> None:
        """Close the connection (and the warehouse file with it)."""
        self.con.close()

    @contextlib.contextmanager
    def warehouse_attached(self, sql: str) -> Iterator[None]:
        """Around one statement of a session that does not hold the warehouse: attach it when
        the statement names ``warehouse`` (or lists tables), detach it after, so the loader
        can write between statements."""
        wanted = "warehouse" in sql.lower() or "show all tables" in sql.lower()
        if self.held or self.warehouse is None or not wanted:
            yield
            return
        attach_read_only(self.con, Path(self.warehouse))
        try:
            yield
        finally:
            self.con.execute("DETACH DATABASE IF EXISTS warehouse")


def open_session(
    raw: Store,
    processed: Store | None = None,
    warehouse_uri: str | None = None,
    *,
    hold_warehouse: bool = True,
) -> Session:
    """A DuckDB session with the raw, processed and warehouse views described above.

    Reads only (listing, Parquet footers, manifests); the warehouse is attached read-only,
    for the session's life, or (``hold_warehouse`` False) only checked for here and attached
    per statement by :meth:`Session.warehouse_attached`. A failure closes the connection.
    """
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        for macro in _LSN_MACROS:
            con.execute(macro)
        found = (_add_raw_table(con, raw, n, i) for i, n in enumerate(captured_tables(raw)))
        tables = tuple(t for t in found if t)
        schemas = sorted({t.table.schema for t in tables})
        views = _add_processed(con, processed) if processed is not None else ()
        file = _warehouse_file(warehouse_uri) if warehouse_uri else None
        if file is not None and hold_warehouse:
            attach_read_only(con, file)
        # the processed views after the source schemas: warehouse SQL runs as written
        search = [*schemas, *(["processed"] if processed is not None else []), "main"]
        path = ",".join(quote_ident(s) for s in search)
        con.execute(f"SET search_path = '{path.replace(chr(39), chr(39) * 2)}'")
    except BaseException:
        con.close()
        raise
    return Session(con, tables, views, str(file) if file else None, hold_warehouse, raw.uri)


def _dataset(store: Store, keys: Sequence[str]) -> ds.Dataset:
    """The objects as one dataset, their schemas unified (a column added later is NULL
    before it), read through the store's filesystem."""
    paths = [store.path(k) for k in keys]
    factory = ds.FileSystemDatasetFactory(
        store.filesystem, paths, ds.ParquetFileFormat(), ds.FileSystemFactoryOptions()
    )
    schema = factory.inspect(promote_options="permissive", fragments=None)
    return factory.finish(schema)


def _add_raw_table(
    con: duckdb.DuckDBPyConnection, raw: Store, table: TableName, index: int
) -> LakeTable | None:
    """Register a table's readable objects; create its history and state views."""
    if table.schema in RESERVED_SCHEMAS:
        log.warning("%s: schema name is reserved in the query session; skipped", table.qualified)
        return None
    keys = [obj.key for obj in table_objects(raw, table)]
    if not keys:
        return None
    data = _dataset(raw, keys)
    relation = f"_raw_{index}"
    con.register(relation, data)
    columns = tuple(c for c in data.schema.names if c not in META)
    key = _source_key(raw, keys[-1])
    schema = quote_ident(table.schema)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute(_history_sql(table, relation, data.schema.names, columns))
    if key:
        state = current_state_sql(quote_ident(relation), columns, key)
        con.execute(f"CREATE OR REPLACE VIEW {schema}.{quote_ident(table.name)} AS {state}")
        as_of = current_state_sql(
            f"(SELECT * FROM {quote_ident(relation)} WHERE {_AS_OF})", columns, key
        )
        macro = quote_ident(f"{table.name}_as_of")
        con.execute(f"CREATE OR REPLACE MACRO {schema}.{macro}(point) AS TABLE {as_of}")
    else:
        log.warning("%s has no key: only %s_history is available", table.qualified, table.name)
    return LakeTable(table, columns, key, len(keys))


# A point is an LSN ('16/B374D848': two 1-8 digit hex halves, or digits) or a timestamp
# (so '2026/01/02' is a date, not an LSN); anything else is refused.
_AS_OF = """CASE
    WHEN regexp_full_match(CAST(point AS VARCHAR), '[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}')
        THEN _lsn <= main.pg_lsn(point)
    WHEN regexp_full_match(CAST(point AS VARCHAR), '[0-9]+')
        THEN _lsn <= TRY_CAST(CAST(point AS VARCHAR) AS BIGINT)
    ELSE _commit_ts <= coalesce(TRY_CAST(CAST(point AS VARCHAR) AS TIMESTAMPTZ),
        error('as_of: ' || CAST(point AS VARCHAR) || ' is neither an LSN nor a timestamp'))
    END"""


def _history_sql(
    table: TableName, relation: str, names: Sequence[str], columns: Sequence[str]
) -> str:
    cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in OP_NAMES.items())
    own = "".join(f"{quote_ident(c)}, " for c in columns)
    extra = "".join(f"{c}, " for c in ("_unchanged", "_old_key", "_nonfinite") if c in names)
    view = f"{quote_ident(table.schema)}.{quote_ident(table.name + '_history')}"
    return f"""CREATE OR REPLACE VIEW {view} AS
        SELECT CASE _op {cases} ELSE _op END AS _op, main.lsn_text(_lsn) AS _lsn,
               _commit_ts, {own}_seq, _xid, {extra}_lsn AS _lsn_int
        FROM {quote_ident(relation)}
        ORDER BY _lsn, CASE WHEN _op = 'r' THEN -1 ELSE _seq END"""


def _source_key(raw: Store, key: str) -> tuple[str, ...]:
    """The key columns the newest object's metadata names."""
    return source_key(_dataset(raw, [key]).schema.metadata)


def _add_processed(con: duckdb.DuckDBPyConnection, processed: Store) -> tuple[str, ...]:
    """Views of schema ``processed``: targets, mirrors (newest state), batches."""
    batches = committed_batches(processed)
    con.execute("CREATE SCHEMA IF NOT EXISTS processed")
    con.execute(_batches_sql(batches))
    views = ["batches"]
    objects: dict[str, list[tuple[int, str]]] = {}
    newest: dict[str, Output] = {}
    for batch in batches:
        for output in batch.outputs:
            if output.kind != Kind.MIRROR:
                objects.setdefault(output.target, []).extend((batch.run, k) for k in output.objects)
                newest[output.target] = output
    for target, runs in sorted(objects.items()):
        name = f"_processed_{len(views)}"
        data = _runs_dataset(processed, runs)
        con.register(name, data)
        views += _target_views(con, name, newest[target], data.schema.names)
    if batches:
        for table, progress in sorted(batches[-1].tables.items()):
            if progress.state and progress.key:
                views.append(_add_mirror(con, processed, table, progress, index=len(views)))
    return tuple(views)


def _runs_dataset(store: Store, runs: Sequence[tuple[int, str]]) -> ds.Dataset:
    """(run, object) pairs as one dataset with a ``_run`` column (the run that wrote a row)."""
    schema = _dataset(store, [k for _, k in runs]).schema.append(pa.field("_run", pa.int64()))
    return ds.FileSystemDataset.from_paths(
        [store.path(k) for _, k in runs],
        schema=schema,
        format=ds.ParquetFileFormat(),
        filesystem=store.filesystem,
        partitions=[ds.field("_run") == run for run, _ in runs],
    )


def _target_views(
    con: duckdb.DuckDBPyConnection, relation: str, output: Output, names: Sequence[str]
) -> list[str]:
    """A target's view (and a fact's ``_current``), holding the rows the loader keeps.

    Dimensions and derived targets are upserted by key: the newest run's row per key. Facts
    and quarantine are inserted: every row (a fact: every version).
    """
    view = f"processed.{quote_ident(output.target)}"
    upserted = output.kind not in APPENDED_KINDS and output.key
    newest = ""
    if upserted:
        key = ", ".join(quote_ident(c) for c in output.key)
        newest = f" QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _run DESC) = 1"
    con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * EXCLUDE (_run) FROM {relation}{newest}")
    made = [output.target]
    needed = {"source_lsn", "source_seq", "deleted"}
    if output.kind == Kind.FACT and output.entity and needed | {output.entity} <= set(names):
        current = f"processed.{quote_ident(output.target + '_current')}"
        columns = [c for c in names if c != "_run"]
        con.execute(current_view(quote_ident, current, view, columns, output.entity))
        made.append(f"{output.target}_current")
    return made


def _batches_sql(batches: Sequence[Batch]) -> str:
    rows = [
        f"({b.run}, {int(b.bound)}, TIMESTAMPTZ '{b.created_at.isoformat()}', {b.changes})"
        for b in batches
    ]
    body = (
        f"SELECT * FROM (VALUES {', '.join(rows)}) AS b(run, bound_int, created_at, changes)"
        if rows
        else "SELECT NULL::BIGINT AS run, NULL::BIGINT AS bound_int, "
        "NULL::TIMESTAMPTZ AS created_at, NULL::BIGINT AS changes WHERE false"
    )
    return (
        "CREATE OR REPLACE VIEW processed.batches AS SELECT run, main.lsn_text(bound_int) AS "
        f"bound, created_at, changes, bound_int FROM ({body}) ORDER BY run"
    )


def _add_mirror(
    con: duckdb.DuckDBPyConnection,
    processed: Store,
    qualified: str,
    progress: TableProgress,
    *,
    index: int,
) -> str:
    """The newest object holding a key decides it; ``_deleted`` rows are gone. A table
    without a key (a multiset) is keyed by its whole row, each row shown ``_count`` times."""
    table = parse_table_entry(qualified)
    view = f"mirror_{table.schema}_{table.name}"
    parts, names = [], []
    for number, obj in enumerate(progress.state):
        name = f"_mirror_{index}_{number}"
        data = _dataset(processed, [obj])
        con.register(name, data)
        parts.append(f"SELECT *, {number} AS _obj FROM {name}")
        names += [n for n in data.schema.names if n not in names]
    columns = [n for n in names if n not in ("_deleted", COUNT, PREVIOUS)]
    key = columns if progress.multiset else progress.key
    k = ", ".join(quote_ident(c) for c in key)
    cols = ", ".join(quote_ident(c) for c in columns)
    newest = f"""SELECT * FROM ({" UNION ALL BY NAME ".join(parts)})
        QUALIFY row_number() OVER (PARTITION BY {k} ORDER BY _obj DESC) = 1 AND NOT _deleted"""
    if progress.multiset:  # a state written before multisets had no _count: one copy
        copies = f"coalesce({COUNT}, 1)" if COUNT in names else "1"
        newest = f"SELECT {cols}, unnest(range({copies})) FROM ({newest})"
    con.execute(
        f"CREATE OR REPLACE VIEW processed.{quote_ident(view)} AS SELECT {cols} FROM ({newest})"
    )
    return view


def _warehouse_file(uri: str) -> Path | None:
    """The DuckDB warehouse file of ``uri``; None for PostgreSQL or a file not created yet."""
    path = duckdb_file(uri)
    if path is None:
        log.info("the PostgreSQL warehouse is not attached: query the processed store views")
        return None
    if not path.exists():
        log.debug("no warehouse file at %s yet: not attached", path)
        return None
    return path


FORMATS = ("table", "csv", "json", "parquet")


def output_format(fmt: str | None, output: str | None) -> str:
    """The format asked for, else the one the output file's suffix names, else ``table``."""
    if fmt:
        chosen = fmt
    elif output and Path(output).suffix.lstrip(".").lower() in FORMATS:
        chosen = Path(output).suffix.lstrip(".").lower()
    else:
        chosen = "csv" if output else "table"
    if chosen == "table" and output:
        raise ConfigurationError("--format table prints to the terminal: use csv, json or parquet")
    if chosen == "parquet" and not output:
        raise ConfigurationError("--format parquet needs --output FILE")
    return chosen


def read_sql_file(name: str) -> str:
    """The SQL in file ``name`` (``-``: standard input); a missing or unreadable file is
    one error naming it."""
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the SQL file {name}: {exc.strerror or type(exc).__name__}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"the SQL file {name} is not UTF-8 text") from None


def run_sql(
    con: duckdb.DuckDBPyConnection, sql: str, *, empty_raw_store: str | None = None
) -> duckdb.DuckDBPyRelation | None:
    """Run one or more statements; the last one's result (None for a statement without).

    ``empty_raw_store``: the raw store's URI when it holds no captured table; a table that
    does not exist is then reported as that, with the command that fills the store.
    """
    try:
        return con.sql(sql)
    except duckdb.CatalogException as exc:
        if empty_raw_store is not None:
            raise QueryError(_empty_store_message(exc, empty_raw_store)) from exc
        raise QueryError(one_line(exc)) from exc
    except duckdb.Error as exc:
        raise QueryError(one_line(exc)) from exc


def one_line(exc: duckdb.Error) -> str:
    """DuckDB's message as one line: its first line, then where in the SQL (``LINE n: …``)
    when it says; the caret line and the suggestions are left out."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    where = next((line for line in lines[1:] if re.match(r"LINE \d+:", line)), None)
    return f"{lines[0]} (at {where})" if where else lines[0]


def _empty_store_message(exc: duckdb.Error, raw_uri: str) -> str:
    """DuckDB's first line (without "Catalog Error:"), then why and what to run."""
    first = one_line(exc).removeprefix("Catalog Error:").strip()
    return (
        f"{first.rstrip('!')}: the raw store {raw_uri} holds no captured table yet; "
        "fill it with `pgcdc snapshot` (or `make demo` for the demo database)"
    )


class QueryError(ConfigurationError):
    """The SQL did not run (its message is DuckDB's)."""


def write_result(
    relation: duckdb.DuckDBPyRelation, fmt: str, output: str | None, *, max_rows: int = 40
) -> str | None:
    """Write a result as a table, CSV, JSON lines or Parquet; returns the text to print (for
    ``output`` None) or None (written to the file)."""
    try:
        if fmt == "table":
            return relation.__str__() if max_rows <= 0 else _table_text(relation, max_rows)
        if fmt == "parquet" and output:
            relation.write_parquet(output)
            return None
        if fmt == "csv":
            if output:
                relation.write_csv(output, header=True)
                return None
            return _csv_text(relation)
        as_json = relation.query("_r", "SELECT CAST(to_json(_r) AS VARCHAR) FROM _r AS _r")
        lines = as_json.fetchall() if as_json is not None else []
        text = "".join(f"{line[0]}\n" for line in lines)
        if output:
            Path(output).write_text(text)
            return None
        return text
    except duckdb.Error as exc:
        raise QueryError(one_line(exc)) from exc


def _table_text(relation: duckdb.DuckDBPyRelation, max_rows: int) -> str:
    """DuckDB's box rendering of the first ``max_rows`` rows (the query runs once)."""
    head = relation.limit(max_rows + 1).to_arrow_table()
    render = duckdb.connect()
    try:
        render.execute("SET TimeZone = 'UTC'")
        text = str(render.from_arrow(head.slice(0, max_rows)))
    finally:
        render.close()
    if head.num_rows > max_rows:
        text += f"(more than {max_rows} rows: --max-rows N, or --format csv for all)\n"
    return text


def _csv_text(relation: duckdb.DuckDBPyRelation) -> str:
    """DuckDB's own CSV writer (it takes every type), through a temporary file."""
    with tempfile.TemporaryDirectory(prefix="pgcdc-query-") as folder:
        path = Path(folder) / "result.csv"
        relation.write_csv(str(path), header=True)
        return path.read_text()


PROMPT, MORE = "pgcdc> ", "   ...> "


def interactive(session: Session, *, fmt: str = "table", max_rows: int = 40) -> None:
    """A small SQL prompt: statements end with ``;``; ``.tables`` lists the views; ``.quit``
    (or end of input) leaves. An error is printed and the prompt goes on."""
    with contextlib.suppress(ImportError):  # line editing and history for input()
        import readline  # noqa: F401
    print(describe(session))
    buffer: list[str] = []
    while True:
        try:
            line = input(MORE if buffer else PROMPT)
        except EOFError:
            print()
            return
        command = line.strip()
        if not buffer and command in (".quit", ".exit", "\\q"):
            return
        if not buffer and command == ".tables":
            command = "SELECT database, schema, name FROM (SHOW ALL TABLES) ORDER BY ALL;"
        buffer.append(command)
        if not command.endswith(";"):
            continue
        sql, buffer = "\n".join(buffer), []
        try:
            with session.warehouse_attached(sql):
                relation = run_sql(session.con, sql, empty_raw_store=session.empty_raw_store)
                if relation is not None:
                    print(write_result(relation, fmt, None, max_rows=max_rows), end="")
        except (QueryError, TransientError) as exc:
            print(f"error: {exc}")


def describe(session: Session) -> str:
    """What the session holds, in a few lines (printed when the prompt starts)."""
    names = ", ".join(t.table.qualified for t in session.tables) or (
        f"none yet ({session.raw_uri} holds no captured table: `pgcdc snapshot` fills it)"
    )
    lines = [
        f"raw tables: {names} (<table>, <table>_history, <table>_as_of(lsn | timestamp))",
        f"processed: {', '.join(session.processed_views) or 'none'}",
        f"warehouse: {_warehouse_note(session)}",
        "statements end with ';'  .tables lists every view  .quit leaves",
    ]
    return "\n".join(lines)


def _warehouse_note(session: Session) -> str:
    if session.warehouse is None:
        return "not attached"
    if session.held:
        return f"{session.warehouse} (catalog warehouse)"
    return f"{session.warehouse} (catalog warehouse, attached only while a statement names it)"
