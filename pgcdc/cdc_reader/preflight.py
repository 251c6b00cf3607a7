"""Preflight checks (``pgcdc check``): can this source database be captured from safely?

Each check returns one :class:`CheckResult` with a one-line message and, when something is
wrong, a one-line fix. The checks only read, except the wal2json probe, which creates a
*temporary* logical slot in a connection of its own; Postgres drops a temporary slot when its
session ends or its statement fails, so the probe leaves nothing behind.

The checks are built from the functions capture itself uses, so they cannot disagree with
it: the connection and its error cleaning (:mod:`pgcdc.cdc_reader.source`), the slot rules and the
option probe (:mod:`pgcdc.cdc_reader.slot`), which tables are captured and which lack a replica
identity (:mod:`pgcdc.cdc_reader.catalog`), and the slot-name rule of the settings. wal2json has no
version function; 2.6 added ``numeric-data-types-as-string``, so whether the plugin accepts
that option (:func:`pgcdc.cdc_reader.slot.accepts_option`) tells 2.6+ from older.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any, LiteralString, NamedTuple

import psycopg
from psycopg import errors
from psycopg.rows import TupleRow

from pgcdc.cdc_reader import catalog, reader, slot, source
from pgcdc.cdc_reader.catalog import SourceTable
from pgcdc.cdc_reader.slot import SlotInfo
from pgcdc.schemas.errors import PgcdcError
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.settings import is_slot_name
from pgcdc.schemas.tables import TableFilter, TableName, quote_ident
from pgcdc.storage import Store

PROBE_TIMEOUT_MS = 30_000
"""How long the wal2json probe may wait: creating a logical slot waits for every transaction
that is open at that moment to finish."""

_LIST_LIMIT = 10

_Conn = source.Conn


class Status(StrEnum):
    """How a check came out; any FAIL makes capture unsafe."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: ``message`` says what was found, ``fix`` what to do (one line each)."""

    name: str
    status: Status
    message: str
    fix: str | None = None


class _Verdict(NamedTuple):
    status: Status
    message: str
    fix: str | None = None


def _ok(message: str) -> _Verdict:
    return _Verdict(Status.OK, message)


def _warn(message: str, fix: str | None = None) -> _Verdict:
    return _Verdict(Status.WARN, message, fix)


def _fail(message: str, fix: str) -> _Verdict:
    return _Verdict(Status.FAIL, message, fix)


def run_checks(dsn: str, *, slot: str, table_filter: TableFilter) -> list[CheckResult]:
    """Check the source behind ``dsn`` for capture through ``slot`` of the filtered tables.

    Read-only apart from a temporary slot that vanishes with its session, so it is safe to
    repeat. When the connection itself fails the only result is a FAIL named ``connection``;
    no message ever holds the password or the DSN text.
    """
    try:
        conn = source.open_connection(dsn, application_name="pgcdc-check")
    except psycopg.Error as exc:
        return [CheckResult("connection", *_connection_failure(dsn, exc))]
    with conn:
        checked = _Source(conn, dsn, slot, table_filter)
        results = [CheckResult("connection", *_connected(conn))]
        results += [CheckResult(name, *_guarded(check, checked)) for name, check in _CHECKS]
    return results


def capture_is_safe(results: list[CheckResult]) -> bool:
    """False when any check failed."""
    return not any(result.status is Status.FAIL for result in results)


# --- connecting -----------------------------------------------------------------------------


def _connected(conn: _Conn) -> _Verdict:
    info = conn.info
    version = f"{info.server_version // 10000}.{info.server_version % 10000}"
    return _ok(
        f"connected to {info.host}:{info.port}/{info.dbname} as {info.user} (PostgreSQL {version})"
    )


def _connection_failure(dsn: str, exc: psycopg.Error) -> _Verdict:
    if source.is_malformed_dsn(exc):
        return _fail(
            "cannot connect: the source DSN cannot be parsed (it is not shown: it may hold "
            "a password)",
            "write it as key=value pairs or as a postgresql://user@host:port/dbname URI",
        )
    reason = source.cause_of(exc, source.secrets_of(dsn))
    return _fail(
        f"cannot connect to {source.describe_target(dsn)}: {reason}",
        "check host, port, database, user and password of the source (PGCDC_SOURCE_DSN)",
    )


# --- what the checks share ------------------------------------------------------------------


class _Source:
    """The connection and facts several checks need, each queried once."""

    def __init__(self, conn: _Conn, dsn: str, slot: str, table_filter: TableFilter) -> None:
        self.conn = conn
        self.dsn = dsn
        self.slot = slot
        self.table_filter = table_filter

    def setting(self, name: str) -> str:
        return str(_one(self.conn, "SELECT pg_catalog.current_setting(%s)", (name,))[0])

    @cached_property
    def role(self) -> str:
        return str(_one(self.conn, "SELECT current_user")[0])

    @cached_property
    def slot_info(self) -> SlotInfo | None:
        """The slot as capture sees it; None when it does not exist (or cannot: a bad name)."""
        return slot.inspect_slot(self.conn, self.slot) if is_slot_name(self.slot) else None

    @cached_property
    def tables(self) -> list[SourceTable]:
        """Every table the filter matches, captured or not (:attr:`SourceTable.captured`)."""
        return catalog.list_tables(self.conn, self.table_filter)

    @property
    def captured(self) -> list[SourceTable]:
        """The tables capture reads."""
        return [t for t in self.tables if t.captured]


def _one(conn: _Conn, query: LiteralString, params: tuple[Any, ...] = ()) -> TupleRow:
    row: TupleRow | None = conn.execute(query, params).fetchone()
    if row is None:
        raise errors.NoDataFound("query returned no row")
    return row


def _guarded(check: Callable[[_Source], _Verdict], checked: _Source) -> _Verdict:
    """Run one check; a database error fails that check alone, in one clean line."""
    try:
        return check(checked)
    except psycopg.Error as exc:
        reason = source.cause_of(exc, source.secrets_of(checked.dsn))
    except PgcdcError as exc:  # already translated by a function capture uses too
        reason = str(exc)
    return _fail(f"could not be checked: {reason}", "see the server log; then run it again")


def _tables(count: int) -> str:
    return "1 table" if count == 1 else f"{count} tables"


def _names(tables: Iterable[TableName]) -> str:
    names = [t.qualified for t in tables]
    shown = ", ".join(names[:_LIST_LIMIT])
    more = len(names) - _LIST_LIMIT
    return f"{shown} (and {more} more)" if more > 0 else shown


# --- the checks -----------------------------------------------------------------------------


def _check_wal_level(src: _Source) -> _Verdict:
    level = src.setting("wal_level")
    if level == "logical":
        return _ok("wal_level = logical")
    return _fail(
        f"wal_level = {level}: logical decoding needs wal_level = logical",
        "ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL "
        "(Amazon RDS/Aurora: set rds.logical_replication = 1 in the parameter group, reboot)",
    )


def _check_wal2json(src: _Source) -> _Verdict:
    if src.setting("wal_level") != "logical":
        return _warn("not checked: logical decoding is off (see wal_level)")
    probe = f"pgcdc_check_{uuid.uuid4().hex[:12]}"
    conn = source.open_connection(src.dsn, application_name="pgcdc-check")
    with conn:
        conn.execute(
            "SELECT pg_catalog.set_config('statement_timeout', %s, false)",
            (f"{PROBE_TIMEOUT_MS}ms",),
        )
        try:
            at = slot.create_logical(conn, probe, slot.PLUGIN, temporary=True)
        except psycopg.Error as exc:
            return _probe_failure(conn, exc)
        return _wal2json_version(conn, probe, at)


def _probe_failure(conn: _Conn, exc: psycopg.Error) -> _Verdict:
    """What a failed attempt to create a wal2json slot says about the plugin."""
    refused = slot.plugin_refusal(conn, exc, slot.PLUGIN)
    if refused is not None:
        return _fail(refused.message, refused.fix)
    if isinstance(exc, errors.InsufficientPrivilege):
        return _warn("not checked: the role may not use slots (see replication_privilege)")
    if isinstance(exc, errors.ConfigurationLimitExceeded):
        return _warn(f"not checked: {exc.diag.message_primary}")
    if isinstance(exc, errors.QueryCanceled):
        return _warn(
            f"not checked: creating a slot waited over {PROBE_TIMEOUT_MS / 1000:g} s for "
            "open transactions to finish",
            "find long-running transactions in pg_stat_activity; slot creation waits too",
        )
    raise exc


def _wal2json_version(conn: _Conn, probe: str, at: Lsn) -> _Verdict:
    """Tell 2.6+ from older by whether wal2json accepts an option that 2.6 added."""
    if slot.accepts_option(conn, probe, reader.NUMERIC_AS_STRING, at=at):
        return _ok("wal2json ≥ 2.6 is installed")
    return _warn(
        "wal2json 2.5 (or older): numerics arrive as bare JSON numbers (pgcdc parses them "
        "exactly) and numeric NaN arrives as null (information lost)",
        "upgrade wal2json to 2.6 or later if numeric columns can hold NaN",
    )


def _check_slots_free(src: _Source) -> _Verdict:
    limit, used, inactive = _one(
        src.conn,
        "SELECT pg_catalog.current_setting('max_replication_slots')::int, count(*), "
        "string_agg(slot_name, ', ' ORDER BY slot_name) FILTER (WHERE NOT active) "
        "FROM pg_catalog.pg_replication_slots",
    )
    free = limit - used
    state = f"{used} of {limit} replication slots in use"
    if src.slot_info is not None:
        return _ok(f"{state}; slot {src.slot} already exists")
    raise_it = "raise max_replication_slots (restart needed)"
    if free <= 0:
        idle = f" (inactive: {inactive})" if inactive else ""
        return _fail(
            f"{state}: none is free for slot {src.slot}{idle}",
            f"drop unused slots with pg_drop_replication_slot(name), or {raise_it}",
        )
    if free == 1:
        return _warn(f"{state}: slot {src.slot} will take the last free one", raise_it)
    return _ok(f"{state}; {free} free")


def _check_wal_senders(src: _Source) -> _Verdict:
    limit, used = _one(
        src.conn,
        "SELECT pg_catalog.current_setting('max_wal_senders')::int, count(*) "
        "FROM pg_catalog.pg_stat_activity WHERE backend_type = 'walsender'",
    )
    free = limit - used
    state = f"{used} of {limit} WAL senders in use"
    raise_it = "raise max_wal_senders (restart needed) or stop idle replication connections"
    if free <= 0 and not (src.slot_info is not None):
        return _fail(f"{state}: the snapshot that creates the slot needs a free one", raise_it)
    if free <= 0:
        return _warn(f"{state}: a re-snapshot of a table needs a free one", raise_it)
    if free == 1:
        return _warn(f"{state}: only one is free", raise_it)
    return _ok(f"{state}; {free} free")


def _check_wal_keep_size(src: _Source) -> _Verdict:
    size = src.setting("max_slot_wal_keep_size")
    if size == "-1":
        return _warn(
            "max_slot_wal_keep_size = -1 (unlimited): an abandoned slot keeps WAL until the "
            "disk is full",
            "ALTER SYSTEM SET max_slot_wal_keep_size = '50GB' (size it to the disk), then "
            "SELECT pg_reload_conf() (Amazon RDS: set it in the parameter group)",
        )
    return _ok(
        f"max_slot_wal_keep_size = {size}: a slot further behind than that loses its WAL "
        "and needs a new snapshot"
    )


def _check_replication_privilege(src: _Source) -> _Verdict:
    superuser, replication, rds = _one(
        src.conn,
        "SELECT r.rolsuper, r.rolreplication, "
        "CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rds_replication') "
        "THEN pg_catalog.pg_has_role('rds_replication', 'MEMBER') ELSE false END "
        "FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
    )
    role = src.role
    if superuser or replication or rds:
        how = "superuser" if superuser else "REPLICATION" if replication else "rds_replication"
        return _ok(f"role {role} may use replication slots ({how})")
    return _fail(
        f"role {role} has no REPLICATION privilege: it cannot create or read slots",
        f"ALTER ROLE {quote_ident(role)} WITH REPLICATION (as a superuser); on Amazon "
        f"RDS/Aurora: GRANT rds_replication TO {quote_ident(role)}",
    )


def _check_select_privilege(src: _Source) -> _Verdict:
    role = quote_ident(src.role)
    captured = src.captured
    lacking = [t for t in captured if not (t.can_select and t.can_use_schema)]
    if not lacking:
        return _ok(f"role {src.role} can read all captured tables ({_tables(len(captured))})")
    fixes = [f"GRANT SELECT ON {', '.join(t.name.sql for t in lacking)} TO {role}"]
    schemas = sorted({t.name.schema for t in lacking if not t.can_use_schema})
    if schemas:
        fixes.append(f"GRANT USAGE ON SCHEMA {', '.join(map(quote_ident, schemas))} TO {role}")
    return _fail(
        f"role {src.role} cannot read {_tables(len(lacking))} captured: "
        f"{_names(t.name for t in lacking)}",
        "; ".join(fixes),
    )


def _check_replica_identity(src: _Source) -> _Verdict:
    lacking = catalog.without_identity({t.name: t.spec for t in src.captured})
    if not lacking:
        return _ok("every captured table has a primary key or a usable replica identity")
    statements = "; ".join(f"ALTER TABLE {t.sql} REPLICA IDENTITY FULL" for t in lacking)
    return _fail(
        f"{_tables(len(lacking))} without a primary key and with REPLICA IDENTITY DEFAULT "
        f"or NOTHING, so wal2json silently drops their updates and deletes: {_names(lacking)}",
        f"{statements} (or add a primary key and keep REPLICA IDENTITY DEFAULT)",
    )


def _check_slot(src: _Source) -> _Verdict:
    name = src.slot
    if not is_slot_name(name):
        return _fail(
            f"{name!r} is not a valid slot name",
            "use at most 63 lower-case letters, digits and underscores (PGCDC_SLOT)",
        )
    info = src.slot_info
    if info is None:
        return _ok(f"slot {name} will be created")
    refused = slot.refusal(info, slot.PLUGIN)
    if refused is not None:
        return _fail(refused.message, refused.fix)
    retained = _size(info.retained_bytes)
    state = f"slot {name} ({info.plugin}) retains {retained} of WAL, {info.wal_status}"
    if info.active_pid is not None:
        return _warn(
            f"{state}; in use by pid {info.active_pid}", "make sure only one capture runs per slot"
        )
    if info.wal_status == "unreserved":
        return _warn(f"{state}: it is about to lose WAL", "run a capture now")
    return _ok(state)


def _size(count: int | None) -> str:
    """A byte count as people read it (``pg_size_pretty``'s units)."""
    if count is None:
        return "unknown"
    size = float(count)
    for unit in ("bytes", "kB", "MB", "GB"):
        if abs(size) < 10 * 1024 or unit == "GB":
            return f"{size:.0f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _check_captured_tables(src: _Source) -> _Verdict:
    tables, captured = src.tables, src.captured
    if not tables:  # capture would run and store nothing, every time
        return _fail(
            f"no table matches the filter (include={list(src.table_filter.include)}, "
            f"exclude={list(src.table_filter.exclude)}): nothing would be captured",
            "check PGCDC_TABLES and PGCDC_EXCLUDE_TABLES, or create the tables first",
        )
    roots = {t.root for t in captured}
    alone = [
        t.name
        for t in tables
        if t.partitioned and t.name not in roots and (t.root is None or t.root not in roots)
    ]
    if alone:
        verdict = _warn if captured else _fail
        return verdict(
            f"{_tables(len(alone))} partitioned without any of its partitions captured: "
            f"{_names(alone)}; wal2json reports a partition's changes under the partition's "
            "own name, so only partitions are captured",
            "let PGCDC_TABLES match the partitions too (e.g. schema.table_*)",
        )
    unlogged = [t for t in tables if t.unlogged]
    if unlogged:
        return _warn(
            f"{_tables(len(unlogged))} UNLOGGED, so their changes never reach the WAL: "
            f"{_names(t.name for t in unlogged)}",
            f"ALTER TABLE {unlogged[0].name.sql} SET LOGGED (each of them), or exclude them",
        )
    return _ok(f"{_tables(len(captured))} captured: {_names(t.name for t in captured)}")


_CHECKS: tuple[tuple[str, Callable[[_Source], _Verdict]], ...] = (
    ("wal_level", _check_wal_level),
    ("wal2json", _check_wal2json),
    ("replication_privilege", _check_replication_privilege),
    ("max_replication_slots", _check_slots_free),
    ("max_wal_senders", _check_wal_senders),
    ("max_slot_wal_keep_size", _check_wal_keep_size),
    ("slot", _check_slot),
    ("captured_tables", _check_captured_tables),
    ("select_privilege", _check_select_privilege),
    ("replica_identity", _check_replica_identity),
)


# --- the raw store --------------------------------------------------------------------------

PROBE_PREFIX = ".pgcdc-check-"
"""Probe objects are hidden names (``.x``), which no reader of the store lists."""


def check_store(store: Store) -> CheckResult:
    """Whether capture can write to ``store``: writes a small probe object, reads it back and
    deletes it (a probe left by a crash is hidden from every reader). Safe to repeat."""
    key = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    fix = (
        "point PGCDC_RAW_URI at a folder this user can create and write, or at a bucket that "
        "exists and these credentials may write to (s3:PutObject, s3:GetObject, s3:DeleteObject)"
    )
    payload = b"pgcdc check: safe to delete\n"
    try:
        store.write_bytes(key, payload)
        if store.read_bytes(key) != payload:
            return CheckResult(
                "raw_store", Status.FAIL, f"the raw store {store.uri} returned other bytes", fix
            )
    except (PgcdcError, OSError) as exc:
        reason = str(exc.__cause__ or exc).replace(store.path(key), "…")
        message = f"cannot write to the raw store {store.uri}: {reason}"
        return CheckResult("raw_store", Status.FAIL, message, fix)
    try:
        store.delete(key)
    except (PgcdcError, OSError) as exc:
        return CheckResult(
            "raw_store",
            Status.WARN,
            f"wrote to the raw store {store.uri} but cannot delete {store.url(key)}: {exc}",
            "allow deletes in the raw store (s3:DeleteObject), then remove that object",
        )
    return CheckResult("raw_store", Status.OK, f"the raw store {store.uri} can be written")
