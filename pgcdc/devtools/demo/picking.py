"""Choosing an existing row for the workload to act on."""

from __future__ import annotations

from psycopg import sql

from pgcdc.devtools.demo.catalog import SCHEMA, DemoTable
from pgcdc.devtools.demo.install import Connection

ANY_ROW = sql.SQL("TRUE")


def pick(
    conn: Connection, table: DemoTable, fraction: float, where: sql.Composable = ANY_ROW
) -> int | None:
    """The id of a row of ``table`` (aliased ``x`` in ``where``) that satisfies ``where``.

    ``fraction`` (0 ≤ f < 1) says where in the id range to look: the first matching row at
    or after that point, else the first one from the start. The same fraction on the same
    data gives the same row, so a seeded workload replays the same choices. None when no
    row matches.
    """
    parts = {"pk": sql.Identifier(table.pk), "table": sql.Identifier(SCHEMA, table.name)}
    start = sql.SQL(
        "(SELECT min({pk}) + floor(%(fraction)s * (max({pk}) - min({pk}) + 1)) FROM {table})"
    ).format(**parts)
    query = sql.SQL(
        "SELECT x.{pk} FROM {table} AS x WHERE x.{pk} >= {start} AND ({where}) "
        "ORDER BY x.{pk} LIMIT 1"
    ).format(start=start, where=where, **parts)
    row = conn.execute(query, {"fraction": fraction}).fetchone()
    if row is None:
        wrapped = sql.SQL("SELECT x.{pk} FROM {table} AS x WHERE {where} ORDER BY x.{pk} LIMIT 1")
        row = conn.execute(wrapped.format(where=where, **parts)).fetchone()
    return None if row is None else int(row[0])
