"""Workload operations on the reference data: new and renamed designs, staff moving
department, addresses and counterparty contacts changing.

Like the order operations, each runs in its caller's transaction, draws its random values
first and sets ``last_updated`` to the transaction's time on the rows it writes.
"""

from __future__ import annotations

import random
import string

from psycopg import sql

from pgcdc.devtools.demo import vocabulary as words
from pgcdc.devtools.demo.catalog import (
    ADDRESS,
    COUNTERPARTY,
    DEPARTMENT,
    DESIGN,
    SCHEMA,
    STAFF,
    DemoTable,
)
from pgcdc.devtools.demo.changes import Changes
from pgcdc.devtools.demo.install import Connection
from pgcdc.devtools.demo.picking import pick
from pgcdc.devtools.demo.reference import person, phone_number, street_line

_NEW_DESIGN = """
    INSERT INTO public.design (design_name, file_location, file_name, last_updated)
    VALUES (%(name)s, %(location)s,
        lower(%(name)s) || '-' || to_char(CURRENT_DATE, 'YYYYMMDD') || '-' || %(tag)s || '.json',
        CURRENT_TIMESTAMP)
"""
_RENAME_DESIGN = """
    UPDATE public.design SET design_name = %s, last_updated = CURRENT_TIMESTAMP
    WHERE design_id = %s
"""
_MOVE_STAFF = """
    UPDATE public.staff SET department_id = %s, last_updated = CURRENT_TIMESTAMP
    WHERE staff_id = %s
"""
# Column names are constants: which one changes is drawn, its name is never input.
_ADDRESS_FIELDS = ("address_line_1", "phone")
_CONTACT_FIELDS = ("commercial_contact", "delivery_contact")
_SET_FIELD = "UPDATE {table} SET {column} = %s, last_updated = CURRENT_TIMESTAMP WHERE {pk} = %s"


def new_design(conn: Connection, rng: random.Random) -> Changes:
    """A new design is added."""
    params = {
        "name": rng.choice(words.DESIGN_WORDS),
        "location": rng.choice(words.FILE_LOCATIONS),
        "tag": "".join(rng.choices(string.ascii_lowercase, k=4)),
    }
    changes = Changes()
    changes.add(DESIGN.name, "insert", conn.execute(_NEW_DESIGN, params).rowcount)
    return changes


def rename_design(conn: Connection, rng: random.Random) -> Changes:
    """A design gets a new name."""
    fraction, name = rng.random(), rng.choice(words.DESIGN_WORDS)
    changes = Changes()
    design_id = pick(conn, DESIGN, fraction)
    if design_id is not None:
        renamed = conn.execute(_RENAME_DESIGN, (name, design_id)).rowcount
        changes.add(DESIGN.name, "update", renamed)
    return changes


def move_staff(conn: Connection, rng: random.Random) -> Changes:
    """A staff member moves to another (or the same) department."""
    member, department = rng.random(), rng.random()
    changes = Changes()
    staff_id = pick(conn, STAFF, member)
    department_id = pick(conn, DEPARTMENT, department)
    if staff_id is not None and department_id is not None:
        moved = conn.execute(_MOVE_STAFF, (department_id, staff_id)).rowcount
        changes.add(STAFF.name, "update", moved)
    return changes


def edit_address(conn: Connection, rng: random.Random) -> Changes:
    """An address gets a new first line or a new phone number."""
    fraction, column = rng.random(), rng.choice(_ADDRESS_FIELDS)
    value = street_line(rng) if column == "address_line_1" else phone_number(rng)
    return _set_field(conn, ADDRESS, fraction, column, value)


def edit_counterparty(conn: Connection, rng: random.Random) -> Changes:
    """A counterparty gets a new commercial or delivery contact."""
    fraction, column, contact = rng.random(), rng.choice(_CONTACT_FIELDS), person(rng)
    return _set_field(conn, COUNTERPARTY, fraction, column, contact)


def _set_field(
    conn: Connection, table: DemoTable, fraction: float, column: str, value: str
) -> Changes:
    """Set one text column of the row of ``table`` that ``fraction`` picks."""
    changes = Changes()
    row_id = pick(conn, table, fraction)
    if row_id is None:
        return changes
    statement = sql.SQL(_SET_FIELD).format(
        table=sql.Identifier(SCHEMA, table.name),
        column=sql.Identifier(column),
        pk=sql.Identifier(table.pk),
    )
    changes.add(table.name, "update", conn.execute(statement, (value, row_id)).rowcount)
    return changes
