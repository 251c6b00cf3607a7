"""A PostgreSQL warehouse (e.g. RDS): staged with COPY, applied with set-based SQL."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql

from pgcdc.schemas.errors import ConfigurationError, TerminalError, TransientError
from pgcdc.schemas.pgtypes import KINDS, PgKind, warehouse_type
from pgcdc.schemas.settings import MALFORMED_CONNINFO, is_conninfo_error
from pgcdc.warehouse_loader.warehouse import Warehouse

# Arrow types DuckDB may write that no Postgres kind of the type registry has
_NOT_FROM_POSTGRES = {
    "int8": "smallint",
    "uint8": "smallint",
    "uint16": "integer",
    "uint32": "bigint",
    "uint64": "numeric(20,0)",
    "large_string": "text",
    "large_binary": "bytea",
}


def pg_type(arrow: pa.DataType) -> str:
    """The PostgreSQL type a column of this Arrow type is stored as: the type registry's
    warehouse type of its kind, or text when unknown."""
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        inner = pg_type(arrow.value_type)
        if inner == "text" and not pa.types.is_string(arrow.value_type):
            return "text"
        return KINDS[PgKind.ARRAY].warehouse.format(element=inner)
    return warehouse_type(arrow) or _NOT_FROM_POSTGRES.get(str(arrow), "text")


class PostgresWarehouse(Warehouse):
    """A PostgreSQL database reached by a ``postgresql://`` URI."""

    param = "%s"

    def __init__(self, uri: str) -> None:
        try:
            # autocommit: every transaction() is a real transaction; without it a statement
            # outside one (the audit's relation listing) opens an implicit transaction that
            # turns every later transaction() into a savepoint that never commits
            self._conn = psycopg.connect(uri, autocommit=True)
        except psycopg.OperationalError as exc:
            raise TransientError(f"cannot connect to the warehouse: {exc.sqlstate or ''}") from None
        except psycopg.ProgrammingError as exc:
            if not exc.sqlstate and is_conninfo_error(str(exc)):
                raise ConfigurationError(f"the warehouse URI: {MALFORMED_CONNINFO}") from None
            raise

    def quote(self, name: str) -> str:
        """Quote one identifier through ``psycopg.sql.Identifier``."""
        return sql.Identifier(name).as_string(self._conn)

    def execute(self, text: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Run one statement (values bound)."""
        try:
            cur = self._conn.execute(sql.SQL(text), list(params))
        except psycopg.errors.InsufficientPrivilege as exc:
            raise TerminalError(f"warehouse: {exc}") from None
        return cur.fetchall() if cur.description else []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One database transaction."""
        with self._conn.transaction():
            yield

    def stage(self, name: str, rows: pa.Table) -> str:
        """A temporary table dropped at commit, filled with COPY."""
        ident = self.quote(name)
        cols = ", ".join(f"{self.quote(f.name)} {pg_type(f.type)}" for f in rows.schema)
        self.execute(f"CREATE TEMP TABLE {ident} ({cols}) ON COMMIT DROP")
        names = ", ".join(self.quote(f.name) for f in rows.schema)
        converters = [_converter(f.type) for f in rows.schema]
        copy_sql = sql.SQL(f"COPY {ident} ({names}) FROM STDIN")
        with self._conn.cursor().copy(copy_sql) as copy:
            for batch in rows.to_batches(max_chunksize=50_000):
                columns = [c.to_pylist() for c in batch.columns]
                for values in zip(*columns, strict=True):
                    copy.write_row([f(v) for f, v in zip(converters, values, strict=True)])
        return ident

    def column_types(self, staging: str, rows: pa.Table) -> list[tuple[str, str]]:
        """The PostgreSQL types of the staged Arrow columns."""
        return [(f.name, pg_type(f.type)) for f in rows.schema]

    def existing_relations(self) -> set[str]:
        """Tables and views of the current schema."""
        rows = self.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        return {str(r[0]) for r in rows}

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def driver_error(self, exc: Exception) -> tuple[bool, str] | None:
        """psycopg's errors: connection, resources, shutdown, serialization (OperationalError,
        InterfaceError) are transient; the rest (integrity, data, undefined …) are the
        warehouse refusing the rows. The reason is the server's primary message: its
        DETAIL (which may quote a row) is left out."""
        if not isinstance(exc, psycopg.Error):
            return None
        transient = isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
        primary = exc.diag.message_primary if isinstance(exc, psycopg.DatabaseError) else None
        line = (primary or (str(exc).strip().splitlines() or [""])[0]).strip()
        code = f" SQLSTATE {exc.sqlstate}" if exc.sqlstate else ""
        return transient, f"{line} ({type(exc).__name__}{code})"


def _converter(arrow: pa.DataType) -> Any:
    """How a value of ``arrow`` is sent to its warehouse column: a ``text`` column holds the
    JSON text of a nested value (list, struct, map) and the plain text of a scalar (a UUID
    as ``8-4-4-4-12`` hex, not as a quoted JSON string)."""
    if pg_type(arrow) == "text" and not (
        pa.types.is_string(arrow) or pa.types.is_large_string(arrow)
    ):
        return _as_text
    return lambda v: v


def _as_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, default=str)
    return str(value)
