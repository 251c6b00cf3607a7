"""``init_demo``: create the demo schema and bulk-load a generated history into it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from psycopg import sql

from pgcdc.devtools.demo.catalog import SCHEMA, TABLES, DemoTable, Row
from pgcdc.devtools.demo.connection import connect
from pgcdc.devtools.demo.generator import generate
from pgcdc.devtools.demo.install import Connection, create_schema
from pgcdc.schemas.errors import ConfigurationError

# The growing tables, the ones worth naming in a one-line summary.
_GROWING = ("sales_order", "purchase_order", "transaction", "payment", "design")


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What :func:`init_demo` created: rows per table, for which scale and seed, how fast."""

    rows: Mapping[str, int] = field(default_factory=dict)
    scale: float = 1.0
    seed: int = 42
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        """Rows in all tables."""
        return sum(self.rows.values())

    def describe(self) -> str:
        """One line for a terminal."""
        growing = ", ".join(f"{t} {self.rows.get(t, 0):,}" for t in _GROWING)
        return (
            f"demo database seeded (scale {self.scale:g}, seed {self.seed}): "
            f"{self.total_rows:,} rows in {len(self.rows)} tables in {self.seconds:.1f} s "
            f"({growing})"
        )


def init_demo(
    dsn: str,
    *,
    scale: float = 1.0,
    seed: int = 42,
    reset: bool = False,
    progress: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Create the totesys tables in ``dsn`` and fill them with 2.5 years of history.

    The same ``scale`` and ``seed`` always give the same content. All of it is one
    transaction: a failure leaves the database as it was. If any demo table or type exists
    already this raises :class:`~pgcdc.schemas.errors.ConfigurationError`, unless ``reset`` is
    true, in which case the old demo schema and its data are dropped first.
    """
    if not (math.isfinite(scale) and scale >= 0):
        raise ConfigurationError(f"demo scale must be a finite number, zero or more, not {scale}")
    say = progress or _silent
    started = time.monotonic()
    with connect(dsn) as conn, conn.transaction():
        create_schema(conn, reset=reset)
        say(f"schema: {len(TABLES)} tables created")
        data = generate(scale=scale, seed=seed)
        counts: dict[str, int] = {}
        for table in TABLES:
            counts[table.name] = copy_rows(conn, table, data.rows[table.name])
            restart_sequence(conn, table)
            say(f"{table.name}: {counts[table.name]:,} rows")
        conn.execute(sql.SQL("ANALYZE {}").format(_table_list()))
    return DemoSummary(counts, scale, seed, time.monotonic() - started)


def copy_rows(conn: Connection, table: DemoTable, rows: Sequence[Row]) -> int:
    """Bulk-load ``rows`` (explicit ids included) into ``table``; returns how many."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(SCHEMA, table.name),
        sql.SQL(", ").join(sql.Identifier(c) for c in table.columns),
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row([row[column] for column in table.columns])
    return len(rows)


def restart_sequence(conn: Connection, table: DemoTable) -> None:
    """Point the table's id sequence past its highest id, as rows were loaded with ids."""
    statement = sql.SQL(
        "SELECT setval(pg_get_serial_sequence(%s, %s), coalesce(max({pk}), 0) + 1, false) "
        "FROM {table}"
    ).format(pk=sql.Identifier(table.pk), table=sql.Identifier(SCHEMA, table.name))
    conn.execute(statement, (f"{SCHEMA}.{table.name}", table.pk))


def _table_list() -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(SCHEMA, t.name) for t in TABLES)


def _silent(message: str) -> None:
    """Progress goes nowhere unless the caller asks for it."""
