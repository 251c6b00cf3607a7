"""Creating and dropping the demo schema (tables, enum types, sequences)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

from pgcdc.devtools.demo.catalog import ENUM_TYPES, SCHEMA, TABLE_NAMES, TABLES
from pgcdc.schemas.errors import ConfigurationError

Connection = psycopg.Connection[tuple[Any, ...]]

SEQUENCES = tuple(f"{table.name}_{table.pk}_seq" for table in TABLES)

_EXISTING = """
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s AND c.relname = ANY(%(relations)s)
    UNION ALL
    SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = %(schema)s AND t.typname = ANY(%(types)s)
"""


def schema_script() -> str:
    """The DDL of the demo schema (``schema.sql``)."""
    return resources.files("pgcdc.devtools.demo").joinpath("schema.sql").read_text(encoding="utf-8")


def existing_objects(conn: Connection) -> list[str]:
    """Names of the demo tables, sequences and enum types that already exist."""
    params = {
        "schema": SCHEMA,
        "relations": [t.name for t in TABLES] + list(SEQUENCES),
        "types": list(ENUM_TYPES),
    }
    return sorted(row[0] for row in conn.execute(_EXISTING, params).fetchall())


def create_schema(conn: Connection, *, reset: bool) -> None:
    """Create the demo schema; with ``reset``, drop an existing one first.

    Without ``reset`` an existing demo object is a :class:`ConfigurationError`: seeding twice
    would mix two histories, so the caller must say that the old data may go.
    """
    existing = existing_objects(conn)
    if existing and not reset:
        tables = [name for name in existing if name in TABLE_NAMES]
        shown = tables or existing
        more = f" and {len(shown) - 4} more" if len(shown) > 4 else ""
        what = "tables" if tables else "objects"
        raise ConfigurationError(
            f"the demo schema already exists in this database ({what} "
            f"{', '.join(shown[:4])}{more}); "
            "keep it, or reset it (pgcdc demo init --reset / init_demo(..., reset=True)) "
            "to drop and recreate it"
        )
    if existing:
        drop_schema(conn)
    # A package resource, not input. Without parameters psycopg sends the whole script as one
    # simple query, so its statements run in order in our transaction.
    conn.execute(schema_script().encode())


def drop_schema(conn: Connection) -> None:
    """Drop the demo tables, sequences and enum types if they exist (not what depends on them)."""
    tables = sql.SQL(", ").join(sql.Identifier(SCHEMA, t.name) for t in reversed(TABLES))
    sequences = sql.SQL(", ").join(sql.Identifier(SCHEMA, name) for name in SEQUENCES)
    types = sql.SQL(", ").join(sql.Identifier(SCHEMA, name) for name in ENUM_TYPES)
    try:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(tables))
        # Owned sequences went with their tables; these are strays of a partial schema.
        conn.execute(sql.SQL("DROP SEQUENCE IF EXISTS {}").format(sequences))
        conn.execute(sql.SQL("DROP TYPE IF EXISTS {}").format(types))
    except psycopg.errors.DependentObjectsStillExist as exc:
        raise ConfigurationError(
            f"cannot reset the demo schema: other objects depend on it ({exc.diag.message_detail})"
        ) from exc
