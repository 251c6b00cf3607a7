"""Replication slot lifecycle: create (idempotent), inspect, advance (forward only), drop;
and the rules both ``capture`` and ``pgcdc check`` judge a slot and its output plugin by.

Every function that creates or judges a slot takes the output plugin's name (today always
:data:`PLUGIN`), so a second decoder can bring its own plugin without another copy of them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import errors as pgerr

from pgcdc.cdc_reader.source import Conn, translate
from pgcdc.schemas.errors import PgcdcError, SourceError
from pgcdc.schemas.lsn import Lsn

PLUGIN = "wal2json"
"""The output plugin pgcdc decodes."""

log = logging.getLogger("pgcdc.slot")

_INSPECT = """
SELECT slot_name, plugin, slot_type, database, active, active_pid,
       confirmed_flush_lsn::text, restart_lsn::text, wal_status, safe_wal_size,
       CASE WHEN restart_lsn IS NULL THEN NULL
            ELSE pg_wal_lsn_diff(
                CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                     ELSE pg_current_wal_lsn() END,
                restart_lsn)::bigint END,
       current_database()
FROM pg_replication_slots WHERE slot_name = %s
"""


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


@dataclass(frozen=True)
class Refusal:
    """Why a slot or an output plugin cannot be used: what was found, and what to do."""

    message: str
    fix: str
    wanted: str | None = None  # what was expected instead, for the error line

    @property
    def not_ours(self) -> bool:
        """Another kind, plugin or database: a slot pgcdc must leave alone."""
        return self.wanted is not None

    def error(self) -> SourceError:
        """The refusal as the one-line error a command fails with."""
        instead = f", not {self.wanted}" if self.wanted else ""
        return SourceError(f"{self.message}{instead}: {self.fix}")


def _drop_or_rename(name: str) -> str:
    # slot names are [a-z0-9_]: quoting them as a literal needs no escaping
    return (
        f"drop it if nothing else uses it (SELECT pg_drop_replication_slot('{name}')) "
        "or choose another slot name (PGCDC_SLOT)"
    )


def refusal(info: SlotInfo, plugin: str = PLUGIN) -> Refusal | None:
    """Why pgcdc must not use this existing slot (None: it may): another kind or plugin,
    another database, or WAL it needed is lost. The one rule for capture, snapshot and
    ``pgcdc check``."""
    drop = _drop_or_rename(info.name)
    if info.slot_type != "logical" or info.plugin != plugin:
        return Refusal(
            f"slot {info.name} exists but is a {info.slot_type} slot of plugin {info.plugin}",
            drop,
            wanted=f"logical/{plugin}",
        )
    if info.database != info.current_database:
        return Refusal(
            f"slot {info.name} belongs to database {info.database}",
            drop,
            wanted=info.current_database,
        )
    if info.wal_status == "lost":
        return Refusal(
            f"slot {info.name} has lost WAL it needed (wal_status = lost): changes are gone",
            f"{drop}; then bootstrap again with `pgcdc snapshot`",
        )
    return None


def check_usable(info: SlotInfo, plugin: str = PLUGIN) -> None:
    """Refuse a slot that :func:`refusal` refuses."""
    found = refusal(info, plugin)
    if found is not None:
        raise found.error()


def check_kind(info: SlotInfo, plugin: str = PLUGIN) -> None:
    """Refuse a slot that is not a logical slot of ``plugin`` in this database (not
    pgcdc's); one that lost WAL is still ours."""
    found = refusal(info, plugin)
    if found is not None and found.not_ours:
        raise found.error()


def plugin_refusal(conn: Conn, exc: psycopg.Error, plugin: str = PLUGIN) -> Refusal | None:
    """Why the server would not create a slot of ``plugin`` (None: not the plugin's fault):
    it cannot load the plugin, or ``output_plugin_libraries`` (in some builds) forbids it."""
    if isinstance(exc, pgerr.UndefinedFile):
        major = conn.info.server_version // 10000
        return Refusal(
            f"the {plugin} output plugin is not installed on the server",
            f"apt-get install postgresql-{major}-{plugin} (or your platform's package), "
            "then run again",
        )
    if isinstance(exc, pgerr.InsufficientPrivilege) and "output plugin" in str(exc):
        row = conn.execute(
            "SELECT pg_catalog.current_setting('output_plugin_libraries', true)"
        ).fetchone()
        allowed = str(row[0]) if row and row[0] is not None else ""
        return Refusal(
            f"{plugin} is installed but not allowed: output_plugin_libraries = '{allowed}'",
            f"ALTER SYSTEM SET output_plugin_libraries = '{allowed}, {plugin}'; "
            "SELECT pg_reload_conf();",
        )
    return None


def create_logical(conn: Conn, name: str, plugin: str = PLUGIN, *, temporary: bool = False) -> Lsn:
    """Create a logical slot of ``plugin`` and return its starting position. A temporary
    slot is dropped by Postgres when the session ends. Raises the driver's error as it is:
    :func:`create_slot` translates it, ``pgcdc check`` judges it."""
    row = conn.execute(
        "SELECT lsn::text FROM pg_catalog.pg_create_logical_replication_slot(%s, %s, %s)",
        (name, plugin, temporary),
    ).fetchone()
    assert row is not None
    return Lsn.parse(row[0])


def create_slot(conn: Conn, name: str, plugin: str = PLUGIN) -> tuple[SlotInfo, bool]:
    """Create a logical slot of ``plugin`` starting now. Idempotent: an existing usable
    slot is kept.

    Returns the slot and whether it was created by this call.
    """
    existing = inspect_slot(conn, name)
    if existing is not None:
        check_usable(existing, plugin)
        return existing, False
    try:
        create_logical(conn, name, plugin)
    except psycopg.errors.DuplicateObject:
        pass  # created concurrently by another process: fine, inspect it below
    except psycopg.Error as exc:
        raise creation_error(conn, exc, name, plugin) from None
    info = inspect_slot(conn, name)
    assert info is not None
    check_usable(info, plugin)
    return info, True


def create_exported(
    conn: Conn, name: str, plugin: str = PLUGIN, *, temporary: bool = False
) -> tuple[Lsn, str]:
    """Create a logical slot of ``plugin`` through the replication connection ``conn``,
    exporting a snapshot of the moment it starts: returns (start, snapshot name). The
    snapshot can be imported while ``conn`` stays open and idle. Errors translated."""
    kind = "TEMPORARY LOGICAL" if temporary else "LOGICAL"
    # a replication command takes no parameters; slot names are [a-z0-9_] (the settings' rule)
    command = f"CREATE_REPLICATION_SLOT {name} {kind} {plugin} (SNAPSHOT 'export')"
    res = conn.pgconn.exec_(command.encode())
    if res.status != psycopg.pq.ExecStatus.TUPLES_OK:
        exc = pgerr.error_from_result(res, encoding=conn.info.encoding)
        raise creation_error(conn, exc, name, plugin, exported=True)
    values = [(res.get_value(0, i) or b"").decode() for i in range(3)]
    return Lsn.parse(values[1]), values[2]


def creation_error(
    conn: Conn, exc: psycopg.Error, name: str, plugin: str, *, exported: bool = False
) -> PgcdcError:
    """The error to fail with when creating slot ``name`` failed with ``exc``."""
    doing = f"creating slot {name}" + (" with an exported snapshot" if exported else "")
    refused = plugin_refusal(conn, exc, plugin)
    if refused is not None:
        return SourceError(f"{doing}: {refused.message}: {refused.fix}")
    return translate(exc, doing)


def accepts_option(
    conn: Conn,
    name: str,
    option: tuple[str, str],
    *,
    at: Lsn,
    base: Sequence[tuple[str, str]] = (),
) -> bool:
    """Whether the output plugin of slot ``name`` accepts ``option`` (with ``base``, the
    options it needs anyway).

    A plugin checks its options when decoding starts, so a peek up to ``at`` (the slot's
    own position: nothing to decode) is enough to ask. Found on PostgreSQL 15 with wal2json
    2.5: an unknown option is SQLSTATE 22023 ``option "…" = "…" is unknown``.
    """
    flat = [x for pair in (*base, option) for x in pair]
    try:
        conn.execute(
            "SELECT count(*) FROM pg_catalog.pg_logical_slot_peek_changes("
            "%s, %s::pg_lsn, NULL, VARIADIC %s::text[])",
            (name, str(at), flat),
        )
    except pgerr.InvalidParameterValue as exc:
        if option[0] in (exc.diag.message_primary or ""):
            return False
        raise translate(exc, f"probing the options of slot {name}") from None
    except psycopg.Error as exc:
        raise translate(exc, f"probing the options of slot {name}") from None
    return True


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
