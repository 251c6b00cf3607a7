"""Replication slot lifecycle: create (idempotent), inspect, advance (forward only), drop."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg

from cdc_reader.source import translate
from schemas.errors import SourceError
from schemas.lsn import Lsn

PLUGIN = "wal2json"

log = logging.getLogger("pgcdc.slot")

_INSPECT = """
SELECT slot_name, plugin, slot_type, database, active, active_pid,
       confirmed_flush_lsn::text, restart_lsn::text, wal_status, safe_wal_size,
       CASE WHEN restart_lsn IS NULL THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END,
       current_database()
FROM pg_replication_slots WHERE slot_name = %s
"""

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class SlotInfo:
    """What Postgres says about a slot."""

    name: str
    plugin: str | None
    slot_type: str
    database: str | None
    active: bool
    active_pid: int | None
    confirmed_flush: Lsn | None
    restart_lsn: Lsn | None
    wal_status: str | None
    safe_wal_size: int | None
    retained_bytes: int | None
    current_database: str


def inspect_slot(conn: Conn, name: str) -> SlotInfo | None:
    """The slot's state, or None when it does not exist."""
    try:
        row = conn.execute(_INSPECT, (name,)).fetchone()
    except psycopg.Error as exc:
        raise translate(exc, f"inspecting slot {name}") from None
    if row is None:
        return None
    return SlotInfo(
        name=row[0],
        plugin=row[1],
        slot_type=row[2],
        database=row[3],
        active=bool(row[4]),
        active_pid=row[5],
        confirmed_flush=Lsn.parse(row[6]) if row[6] else None,
        restart_lsn=Lsn.parse(row[7]) if row[7] else None,
        wal_status=row[8],
        safe_wal_size=row[9],
        retained_bytes=row[10],
        current_database=row[11],
    )


def check_usable(info: SlotInfo) -> None:
    """Refuse a slot that is not a wal2json logical slot of this database, or that is lost."""
    check_kind(info)
    if info.wal_status == "lost":
        raise SourceError(
            f"slot {info.name} has lost required WAL (max_slot_wal_keep_size exceeded): "
            "drop it and bootstrap again with `pgcdc snapshot`"
        )


def check_kind(info: SlotInfo) -> None:
    """Refuse a slot that is not a wal2json logical slot of this database (not pgcdc's)."""
    if info.slot_type != "logical" or info.plugin != PLUGIN:
        raise SourceError(
            f"slot {info.name} uses {info.slot_type}/{info.plugin}, not logical/{PLUGIN}: "
            "choose another PGCDC_SLOT or drop it"
        )
    if info.database != info.current_database:
        raise SourceError(
            f"slot {info.name} belongs to database {info.database}, "
            f"not {info.current_database}: choose another PGCDC_SLOT"
        )


def create_slot(conn: Conn, name: str) -> tuple[SlotInfo, bool]:
    """Create a wal2json logical slot starting now. Idempotent: an existing usable slot is kept.

    Returns the slot and whether it was created by this call.
    """
    existing = inspect_slot(conn, name)
    if existing is not None:
        check_usable(existing)
        return existing, False
    try:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, %s)", (name, PLUGIN))
    except psycopg.errors.DuplicateObject:
        pass  # created concurrently by another process: fine, inspect it below
    except psycopg.Error as exc:
        raise translate(exc, f"creating slot {name}") from None
    info = inspect_slot(conn, name)
    assert info is not None
    check_usable(info)
    return info, True


def advance_slot(conn: Conn, name: str, to: Lsn) -> Lsn:
    """Move the slot's confirmed position to ``to`` unless it is already there or beyond.

    Idempotent and forward-only (Postgres refuses to move a slot backwards; we compare
    first). Returns the slot's confirmed position afterwards.
    """
    info = inspect_slot(conn, name)
    if info is None:
        raise SourceError(f"slot {name} does not exist")
    if info.confirmed_flush is not None and info.confirmed_flush >= to:
        return info.confirmed_flush
    try:
        row = conn.execute(
            "SELECT end_lsn::text FROM pg_replication_slot_advance(%s, %s::pg_lsn)",
            (name, str(to)),
        ).fetchone()
    except psycopg.Error as exc:
        raise translate(exc, f"advancing slot {name} to {to}") from None
    assert row is not None
    return Lsn.parse(row[0])


def drop_slot(conn: Conn, name: str) -> bool:
    """Drop the slot if it exists. Idempotent; returns whether it existed."""
    if inspect_slot(conn, name) is None:
        return False
    try:
        conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
    except psycopg.errors.UndefinedObject:
        return False
    except psycopg.Error as exc:
        raise translate(exc, f"dropping slot {name}") from None
    return True


def drop_unused(conn: Conn, name: str, why: str) -> None:
    """Drop a slot this run created and will not use, so it pins no WAL.

    Called while a refusal or another error is on its way out: a failure to drop is logged,
    never raised over the error that explains the run's failure. Idempotent.
    """
    try:
        dropped = drop_slot(conn, name)
    except Exception as exc:
        log.warning(
            "could not drop the slot this run created; it keeps WAL until it is dropped: %s",
            exc,
            extra={"slot": name},
        )
        return
    if dropped:
        log.info("dropped the slot this run created: %s", why, extra={"slot": name})
