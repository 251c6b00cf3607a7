"""Preflight checks (``pgcdc check``): can this source database be captured from safely?

Each check returns one :class:`CheckResult` with a one-line message and, when something is
wrong, a one-line fix. The checks only read, except the wal2json probe, which creates a
*temporary* logical slot in a connection of its own; Postgres drops a temporary slot when its
session ends or its statement fails, so the probe leaves nothing behind.

Found empirically on PostgreSQL 15 with Debian's wal2json 2.5: wal2json has no version
function, but it validates its options in the startup callback, which runs on every
``pg_logical_slot_peek_changes`` call, even when there is nothing to decode. 2.5 answers the
``numeric-data-types-as-string`` option (added in 2.6) with SQLSTATE 22023
``option "numeric-data-types-as-string" = "1" is unknown``, so no change needs to be emitted.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any, LiteralString, NamedTuple, TypeAlias

import psycopg
from psycopg import errors, pq, sql
from psycopg.rows import TupleRow

from schemas.errors import PgcdcError
from schemas.tables import TableFilter, TableName, quote_ident
from storage import Store

CONNECT_TIMEOUT_S = 10
"""Used when neither the DSN nor ``PGCONNECT_TIMEOUT`` sets a connect timeout."""

PROBE_TIMEOUT_MS = 30_000
"""How long the wal2json probe may wait: creating a logical slot waits for every transaction
that is open at that moment to finish."""

_NUMERIC_OPTION = "numeric-data-types-as-string"
_SLOT_NAME = re.compile(r"[a-z0-9_]{1,63}")
_LIST_LIMIT = 10

_Conn: TypeAlias = psycopg.Connection[TupleRow]


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
        conn = _connect(dsn)
    except psycopg.Error as exc:
        return [CheckResult("connection", *_connection_failure(dsn, exc))]
    with conn:
        source = _Source(conn, dsn, slot, table_filter)
        results = [CheckResult("connection", *_connected(conn))]
        results += [CheckResult(name, *_guarded(check, source)) for name, check in _CHECKS]
    return results


def capture_is_safe(results: list[CheckResult]) -> bool:
    """False when any check failed."""
    return not any(result.status is Status.FAIL for result in results)


# --- connecting -----------------------------------------------------------------------------


def _connect(dsn: str) -> _Conn:
    given = psycopg.conninfo.conninfo_to_dict(dsn)
    extra: dict[str, Any] = {}
    if "connect_timeout" not in given and not os.environ.get("PGCONNECT_TIMEOUT"):
        extra["connect_timeout"] = CONNECT_TIMEOUT_S
    if "application_name" not in given and not os.environ.get("PGAPPNAME"):
        extra["application_name"] = "pgcdc-check"
    return psycopg.connect(dsn, autocommit=True, **extra)


def _connected(conn: _Conn) -> _Verdict:
    info = conn.info
    version = f"{info.server_version // 10000}.{info.server_version % 10000}"
    return _ok(
        f"connected to {info.host}:{info.port}/{info.dbname} as {info.user} (PostgreSQL {version})"
    )


def _connection_failure(dsn: str, exc: psycopg.Error) -> _Verdict:
    fix = "check host, port, database, user and password of the source (PGCDC_SOURCE_DSN)"
    try:
        target = _describe_target(dsn)
    except psycopg.Error:
        return _fail(
            "cannot connect: the source DSN cannot be parsed (it is not shown: it may hold "
            "a password)",
            "write it as key=value pairs or as a postgresql://user@host:port/dbname URI",
        )
    reason = _clean_reason(str(exc), secrets=_passwords(dsn))
    return _fail(f"cannot connect to {target}: {reason}", fix)


def _describe_target(dsn: str) -> str:
    """``user@host:port/dbname`` of a DSN, with libpq's defaults filled in; never the password."""
    given = {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(dsn).items()}
    defaults = {
        opt.keyword.decode(): opt.val.decode() for opt in pq.Conninfo.get_defaults() if opt.val
    }

    def value(key: str, fallback: str) -> str:
        return given.get(key) or defaults.get(key) or fallback

    user = value("user", "?")
    host = value("host", "") or value("hostaddr", "local socket")
    return f"{user}@{host}:{value('port', '5432')}/{value('dbname', user)}"


def _clean_reason(text: str, *, secrets: Iterable[str] = ()) -> str:
    """The cause of a libpq connection error as one line, with ``secrets`` masked."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    failing = [line for line in lines if "failed:" in line]
    line = (failing[-1] if failing else lines[0]).rsplit("failed:", 1)[-1].strip()
    for prefix in ("FATAL:", "ERROR:"):
        line = line.removeprefix(prefix).strip()
    for secret in secrets:
        if secret:
            line = line.replace(secret, "***")
    return line or "unknown error"


def _passwords(dsn: str) -> list[str]:
    given = psycopg.conninfo.conninfo_to_dict(dsn)
    return [str(p) for p in (given.get("password"), os.environ.get("PGPASSWORD")) if p]


# --- what the checks share ------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    name: TableName
    partitioned: bool
    unlogged: bool
    replident: str
    has_pk: bool
    has_identity_index: bool
    can_use_schema: bool
    can_select: bool


_TABLES_QUERY = """
SELECT n.nspname, c.relname, c.relkind = 'p', c.relpersistence = 'u', c.relreplident,
       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
               WHERE k.conrelid = c.oid AND k.contype = 'p'),
       EXISTS (SELECT 1 FROM pg_catalog.pg_index i
               WHERE i.indrelid = c.oid AND i.indisreplident),
       pg_catalog.has_schema_privilege(n.oid, 'USAGE'),
       pg_catalog.has_table_privilege(c.oid, 'SELECT')
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
ORDER BY n.nspname, c.relname
"""


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
    def slot_exists(self) -> bool:
        query = "SELECT count(*) FROM pg_catalog.pg_replication_slots WHERE slot_name = %s"
        return bool(_one(self.conn, query, (self.slot,))[0])

    @cached_property
    def tables(self) -> list[_Table]:
        """The captured tables: ordinary and partitioned ones the filter matches."""
        rows = self.conn.execute(_TABLES_QUERY).fetchall()
        tables = [_Table(TableName(row[0], row[1]), *row[2:]) for row in rows]
        return [t for t in tables if self.table_filter.matches(t.name)]


def _one(conn: _Conn, query: LiteralString, params: tuple[Any, ...] = ()) -> TupleRow:
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise errors.NoDataFound("query returned no row")
    return row


def _guarded(check: Callable[[_Source], _Verdict], source: _Source) -> _Verdict:
    """Run one check; a database error fails that check alone, in one clean line."""
    try:
        return check(source)
    except psycopg.Error as exc:
        reason = exc.diag.message_primary or _clean_reason(str(exc))
        return _fail(f"could not be checked: {reason}", "see the server log; then run it again")


def _tables(count: int) -> str:
    return "1 table" if count == 1 else f"{count} tables"


def _names(tables: Iterable[TableName]) -> str:
    names = [t.qualified for t in tables]
    shown = ", ".join(names[:_LIST_LIMIT])
    more = len(names) - _LIST_LIMIT
    return f"{shown} (and {more} more)" if more > 0 else shown


# --- the checks -----------------------------------------------------------------------------


def _check_wal_level(source: _Source) -> _Verdict:
    level = source.setting("wal_level")
    if level == "logical":
        return _ok("wal_level = logical")
    return _fail(
        f"wal_level = {level}: logical decoding needs wal_level = logical",
        "ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL "
        "(Amazon RDS/Aurora: set rds.logical_replication = 1 in the parameter group, reboot)",
    )


def _check_wal2json(source: _Source) -> _Verdict:
    if source.setting("wal_level") != "logical":
        return _warn("not checked: logical decoding is off (see wal_level)")
    probe = f"pgcdc_check_{uuid.uuid4().hex[:12]}"
    with _connect(source.dsn) as conn:
        conn.execute(
            "SELECT pg_catalog.set_config('statement_timeout', %s, false)",
            (f"{PROBE_TIMEOUT_MS}ms",),
        )
        try:
            conn.execute(
                "SELECT pg_catalog.pg_create_logical_replication_slot(%s, 'wal2json', true)",
                (probe,),
            )
        except psycopg.Error as exc:
            return _probe_failure(source, conn, exc)
        return _wal2json_version(conn, probe)


def _probe_failure(source: _Source, conn: _Conn, exc: psycopg.Error) -> _Verdict:
    """What a failed attempt to create a wal2json slot says about the plugin."""
    if isinstance(exc, errors.UndefinedFile):
        major = conn.info.server_version // 10000
        return _fail(
            "the wal2json output plugin is not installed on the server",
            f"apt-get install postgresql-{major}-wal2json (or your platform's package), "
            "then run the check again",
        )
    if isinstance(exc, errors.InsufficientPrivilege):
        if "output plugin" in (exc.diag.message_primary or ""):
            return _plugin_not_allowed(source)
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


def _plugin_not_allowed(source: _Source) -> _Verdict:
    """Servers with ``output_plugin_libraries`` accept only the plugins it lists."""
    allowed = source.setting("output_plugin_libraries")
    return _fail(
        f"wal2json is installed but not allowed: output_plugin_libraries = '{allowed}'",
        f"ALTER SYSTEM SET output_plugin_libraries = '{allowed}, wal2json'; "
        "SELECT pg_reload_conf();",
    )


def _wal2json_version(conn: _Conn, probe: str) -> _Verdict:
    """Tell 2.6+ from older by whether wal2json accepts an option that 2.6 added."""
    try:
        conn.execute(
            "SELECT count(*) FROM pg_catalog.pg_logical_slot_peek_changes("
            "%s, NULL, 1, 'format-version', '2', %s, '1')",
            (probe, _NUMERIC_OPTION),
        )
    except errors.InvalidParameterValue as exc:
        if _NUMERIC_OPTION not in (exc.diag.message_primary or ""):
            raise
        return _warn(
            "wal2json 2.5 (or older): numerics arrive as bare JSON numbers (pgcdc parses them "
            "exactly) and numeric NaN arrives as null (information lost)",
            "upgrade wal2json to 2.6 or later if numeric columns can hold NaN",
        )
    return _ok("wal2json ≥ 2.6 is installed")


def _check_slots_free(source: _Source) -> _Verdict:
    limit, used, inactive = _one(
        source.conn,
        "SELECT pg_catalog.current_setting('max_replication_slots')::int, count(*), "
        "string_agg(slot_name, ', ' ORDER BY slot_name) FILTER (WHERE NOT active) "
        "FROM pg_catalog.pg_replication_slots",
    )
    free = limit - used
    state = f"{used} of {limit} replication slots in use"
    if source.slot_exists:
        return _ok(f"{state}; slot {source.slot} already exists")
    raise_it = "raise max_replication_slots (restart needed)"
    if free <= 0:
        idle = f" (inactive: {inactive})" if inactive else ""
        return _fail(
            f"{state}: none is free for slot {source.slot}{idle}",
            f"drop unused slots with pg_drop_replication_slot(name), or {raise_it}",
        )
    if free == 1:
        return _warn(f"{state}: slot {source.slot} will take the last free one", raise_it)
    return _ok(f"{state}; {free} free")


def _check_wal_senders(source: _Source) -> _Verdict:
    limit, used = _one(
        source.conn,
        "SELECT pg_catalog.current_setting('max_wal_senders')::int, count(*) "
        "FROM pg_catalog.pg_stat_activity WHERE backend_type = 'walsender'",
    )
    free = limit - used
    state = f"{used} of {limit} WAL senders in use"
    raise_it = "raise max_wal_senders (restart needed) or stop idle replication connections"
    if free <= 0 and not source.slot_exists:
        return _fail(f"{state}: the snapshot that creates the slot needs a free one", raise_it)
    if free <= 0:
        return _warn(f"{state}: a re-snapshot of a table needs a free one", raise_it)
    if free == 1:
        return _warn(f"{state}: only one is free", raise_it)
    return _ok(f"{state}; {free} free")


def _check_wal_keep_size(source: _Source) -> _Verdict:
    size = source.setting("max_slot_wal_keep_size")
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


def _check_replication_privilege(source: _Source) -> _Verdict:
    superuser, replication, rds = _one(
        source.conn,
        "SELECT r.rolsuper, r.rolreplication, "
        "CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rds_replication') "
        "THEN pg_catalog.pg_has_role('rds_replication', 'MEMBER') ELSE false END "
        "FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
    )
    role = source.role
    if superuser or replication or rds:
        how = "superuser" if superuser else "REPLICATION" if replication else "rds_replication"
        return _ok(f"role {role} may use replication slots ({how})")
    return _fail(
        f"role {role} has no REPLICATION privilege: it cannot create or read slots",
        f"ALTER ROLE {quote_ident(role)} WITH REPLICATION (as a superuser); on Amazon "
        f"RDS/Aurora: GRANT rds_replication TO {quote_ident(role)}",
    )


def _check_select_privilege(source: _Source) -> _Verdict:
    role = quote_ident(source.role)
    lacking = [t for t in source.tables if not (t.can_select and t.can_use_schema)]
    if not lacking:
        return _ok(
            f"role {source.role} can read all captured tables ({_tables(len(source.tables))})"
        )
    fixes = [f"GRANT SELECT ON {', '.join(t.name.sql for t in lacking)} TO {role}"]
    schemas = sorted({t.name.schema for t in lacking if not t.can_use_schema})
    if schemas:
        fixes.append(f"GRANT USAGE ON SCHEMA {', '.join(map(quote_ident, schemas))} TO {role}")
    return _fail(
        f"role {source.role} cannot read {_tables(len(lacking))} captured: "
        f"{_names(t.name for t in lacking)}",
        "; ".join(fixes),
    )


def _lacks_identity(table: _Table) -> bool:
    """Whether wal2json would drop the table's updates and deletes (it needs an old key)."""
    if table.partitioned:  # no rows of its own: its partitions are checked
        return False
    if table.replident == "d":
        return not table.has_pk
    if table.replident == "i":
        return not table.has_identity_index
    return table.replident == "n"


def _check_replica_identity(source: _Source) -> _Verdict:
    lacking = [t for t in source.tables if _lacks_identity(t)]
    if not lacking:
        return _ok("every captured table has a primary key or a usable replica identity")
    statements = "; ".join(f"ALTER TABLE {t.name.sql} REPLICA IDENTITY FULL" for t in lacking)
    return _fail(
        f"{_tables(len(lacking))} without a primary key and with REPLICA IDENTITY DEFAULT "
        f"or NOTHING, so wal2json silently drops their updates and deletes: "
        f"{_names(t.name for t in lacking)}",
        f"{statements} (or add a primary key and keep REPLICA IDENTITY DEFAULT)",
    )


_SLOT_QUERY = """
SELECT s.plugin, s.slot_type, s.database, s.active_pid, s.wal_status,
       pg_catalog.pg_size_pretty(pg_catalog.pg_wal_lsn_diff(
           CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()
                ELSE pg_catalog.pg_current_wal_lsn() END,
           s.restart_lsn))
FROM pg_catalog.pg_replication_slots s
WHERE s.slot_name = %s
"""


def _check_slot(source: _Source) -> _Verdict:
    name = source.slot
    if not _SLOT_NAME.fullmatch(name):
        return _fail(
            f"{name!r} is not a valid slot name",
            "use at most 63 lower-case letters, digits and underscores (PGCDC_SLOT)",
        )
    row = source.conn.execute(_SLOT_QUERY, (name,)).fetchone()
    if row is None:
        return _ok(f"slot {name} will be created")
    return _existing_slot(source, _SlotRow(*row))


class _SlotRow(NamedTuple):
    plugin: str | None
    kind: str
    database: str | None
    pid: int | None
    wal_status: str | None
    retained: str | None


def _existing_slot(source: _Source, row: _SlotRow) -> _Verdict:
    name = source.slot
    plugin, kind, database, pid, wal_status, retained = row
    drop = (
        f"drop it if nothing else uses it (SELECT pg_drop_replication_slot("
        f"{sql.Literal(name).as_string(source.conn)})) or choose another slot name (PGCDC_SLOT)"
    )
    if kind != "logical" or plugin != "wal2json":
        return _fail(f"slot {name} exists but is a {kind} slot of plugin {plugin}", drop)
    if database != source.conn.info.dbname:
        return _fail(f"slot {name} belongs to database {database}", drop)
    if wal_status == "lost":
        return _fail(
            f"slot {name} has lost WAL it needed (wal_status = lost): changes are gone",
            f"{drop}; then take a new snapshot",
        )
    state = f"slot {name} (wal2json) retains {retained or 'unknown'} of WAL, {wal_status}"
    if pid is not None:
        return _warn(f"{state}; in use by pid {pid}", "make sure only one capture runs per slot")
    if wal_status == "unreserved":
        return _warn(f"{state}: it is about to lose WAL", "run a capture now")
    return _ok(state)


def _check_captured_tables(source: _Source) -> _Verdict:
    tables = source.tables
    if not tables:  # capture would run and store nothing, every time
        return _fail(
            f"no table matches the filter (include={list(source.table_filter.include)}, "
            f"exclude={list(source.table_filter.exclude)}): nothing would be captured",
            "check PGCDC_TABLES and PGCDC_EXCLUDE_TABLES, or create the tables first",
        )
    unlogged = [t for t in tables if t.unlogged]
    if unlogged:
        return _warn(
            f"{_tables(len(unlogged))} UNLOGGED, so their changes never reach the WAL: "
            f"{_names(t.name for t in unlogged)}",
            f"ALTER TABLE {unlogged[0].name.sql} SET LOGGED (each of them), or exclude them",
        )
    return _ok(f"{_tables(len(tables))} captured: {_names(t.name for t in tables)}")


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
