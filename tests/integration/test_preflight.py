"""`pgcdc check` against real servers: a healthy source, then one test per bad setup.

Setups that need server settings of their own (wal_level, a missing plugin, no free slots)
run on extra throwaway clusters, one module-scoped cluster per setup, so every check fails
for its own reason only.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import LiteralString

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgcdc.cdc_reader import preflight
from pgcdc.cdc_reader.preflight import CheckResult, Status, capture_is_safe, run_checks
from pgcdc.devtools.localpg import LocalCluster, server_settings_known
from pgcdc.schemas.tables import TableFilter
from tests.harness import PgServer, extra_cluster

pytestmark = pytest.mark.integration

EVERYTHING = TableFilter()
TAKEN_SLOT = "taken"


def result(results: list[CheckResult], name: str) -> CheckResult:
    """The one result called ``name``."""
    found = [r for r in results if r.name == name]
    assert len(found) == 1, f"expected one {name!r} result in {results}"
    return found[0]


def with_credentials(dsn: str, user: str, password: str) -> str:
    """``dsn`` with another user and password."""
    info = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    info.update(user=user, password=password)
    return make_conninfo(**info)


@pytest.fixture(scope="module")
def replica_cluster() -> Iterator[LocalCluster]:
    """wal_level = replica, and a bounded max_slot_wal_keep_size."""
    with extra_cluster({"wal_level": "replica", "max_slot_wal_keep_size": "'1GB'"}) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def no_wal2json_cluster() -> Iterator[LocalCluster]:
    """Output plugins are looked up on dynamic_library_path, so wal2json cannot be found."""
    settings = {"dynamic_library_path": "'/nonexistent'", "max_slot_wal_keep_size": "-1"}
    with extra_cluster(settings) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def full_cluster() -> Iterator[LocalCluster]:
    """One replication slot and one WAL sender, both taken."""
    with extra_cluster({"max_replication_slots": "1", "max_wal_senders": "1"}) as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (TAKEN_SLOT,))
        with psycopg.connect(cluster.dsn(), autocommit=True, replication="database"):
            yield cluster


@dataclass(frozen=True)
class Role:
    name: str
    password: str
    dsn: str


@pytest.fixture
def login_role(pg_server: PgServer, pg_dsn: str) -> Iterator[Role]:
    """A LOGIN role with a password and no other privilege, connecting to ``pg_dsn``."""
    name = f"pf_{uuid.uuid4().hex[:10]}"
    password = secrets.token_urlsafe(16)
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
    yield Role(name, password, with_credentials(pg_dsn, name, password))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def execute(dsn: str, *statements: LiteralString | sql.Composed) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def create_slot(dsn: str, slot: str, plugin: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, %s)", (slot, plugin))


def grant(statement: LiteralString, role: str) -> sql.Composed:
    """``statement`` with ``{}`` standing for the role."""
    return sql.SQL(statement).format(sql.Identifier(role))


def test_healthy_source_is_safe(pg_dsn: str, slot_name: str) -> None:
    execute(pg_dsn, "CREATE TABLE item (id int PRIMARY KEY, name text)")
    results = run_checks(pg_dsn, slot=slot_name, table_filter=EVERYTHING)
    assert [r.name for r in results] == [
        "connection",
        "wal_level",
        "wal2json",
        "replication_privilege",
        "max_replication_slots",
        "max_wal_senders",
        "max_slot_wal_keep_size",
        "slot",
        "captured_tables",
        "select_privilege",
        "replica_identity",
    ]
    assert all(r.status in (Status.OK, Status.WARN) for r in results), results
    assert capture_is_safe(results)
    assert result(results, "wal_level").message == "wal_level = logical"
    assert result(results, "slot").message == f"slot {slot_name} will be created"
    assert "public.item" in result(results, "captured_tables").message
    assert result(results, "replica_identity").status is Status.OK


def test_wal2json_version_is_detected(pg_dsn: str, slot_name: str) -> None:
    # Independent oracle: does this server's wal2json accept the option 2.6 added?
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_create_logical_replication_slot(%s, 'wal2json', true)", (slot_name,)
        )
        try:
            conn.execute(
                "SELECT count(*) FROM pg_logical_slot_peek_changes(%s, NULL, 1, "
                "'numeric-data-types-as-string', '1')",
                (slot_name,),
            )
            has_option = True
        except psycopg.errors.InvalidParameterValue:
            has_option = False
    check = result(run_checks(pg_dsn, slot=slot_name, table_filter=EVERYTHING), "wal2json")
    if has_option:
        assert (check.status, check.message) == (Status.OK, "wal2json ≥ 2.6 is installed")
    else:
        assert check.status is Status.WARN
        assert "wal2json 2.5 (or older)" in check.message
        assert "NaN arrives as null" in check.message


def test_probe_slot_leaves_nothing_behind(pg_dsn: str, pg_server: PgServer) -> None:
    run_checks(pg_dsn, slot="unused", table_filter=EVERYTHING)
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        left = conn.execute(
            "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'pgcdc_check_%'"
        ).fetchall()
    assert left == []


def test_wal_level_replica_fails(replica_cluster: LocalCluster) -> None:
    results = run_checks(replica_cluster.dsn(), slot="pgcdc", table_filter=EVERYTHING)
    check = result(results, "wal_level")
    assert check.status is Status.FAIL
    assert "wal_level = replica" in check.message
    assert check.fix is not None and "ALTER SYSTEM SET wal_level = logical" in check.fix
    assert "restart" in check.fix
    # the plugin cannot be probed without logical decoding: said, not failed a second time
    wal2json = result(results, "wal2json")
    assert (wal2json.status, wal2json.message) == (
        Status.WARN,
        "not checked: logical decoding is off (see wal_level)",
    )
    assert not capture_is_safe(results)


def test_bounded_max_slot_wal_keep_size_is_ok(replica_cluster: LocalCluster) -> None:
    results = run_checks(replica_cluster.dsn(), slot="pgcdc", table_filter=EVERYTHING)
    check = result(results, "max_slot_wal_keep_size")
    assert check.status is Status.OK
    assert "max_slot_wal_keep_size = 1GB" in check.message


def test_unlimited_max_slot_wal_keep_size_warns(no_wal2json_cluster: LocalCluster) -> None:
    results = run_checks(no_wal2json_cluster.dsn(), slot="pgcdc", table_filter=EVERYTHING)
    check = result(results, "max_slot_wal_keep_size")
    assert check.status is Status.WARN
    assert "-1 (unlimited)" in check.message
    assert check.fix is not None and "ALTER SYSTEM SET max_slot_wal_keep_size" in check.fix


def test_missing_wal2json_fails_with_install_hint(no_wal2json_cluster: LocalCluster) -> None:
    results = run_checks(no_wal2json_cluster.dsn(), slot="pgcdc", table_filter=EVERYTHING)
    check = result(results, "wal2json")
    assert check.status is Status.FAIL
    assert "wal2json output plugin is not installed" in check.message
    with psycopg.connect(no_wal2json_cluster.dsn()) as conn:
        major = conn.info.server_version // 10000
    assert check.fix is not None and f"apt-get install postgresql-{major}-wal2json" in check.fix
    assert result(results, "wal_level").status is Status.OK
    assert not capture_is_safe(results)


def test_no_free_replication_slot_or_wal_sender_fails(full_cluster: LocalCluster) -> None:
    results = run_checks(full_cluster.dsn(), slot="pgcdc", table_filter=EVERYTHING)
    slots = result(results, "max_replication_slots")
    assert slots.status is Status.FAIL
    assert "1 of 1 replication slots in use: none is free" in slots.message
    assert slots.fix is not None and "raise max_replication_slots" in slots.fix
    senders = result(results, "max_wal_senders")
    assert senders.status is Status.FAIL
    assert "1 of 1 WAL senders in use" in senders.message
    assert senders.fix is not None and "raise max_wal_senders" in senders.fix
    wal2json = result(results, "wal2json")
    assert wal2json.status is Status.WARN
    assert "all replication slots are in use" in wal2json.message
    assert not capture_is_safe(results)


def test_full_slots_are_fine_when_our_slot_exists(full_cluster: LocalCluster) -> None:
    results = run_checks(full_cluster.dsn(), slot=TAKEN_SLOT, table_filter=EVERYTHING)
    slots = result(results, "max_replication_slots")
    assert slots.status is Status.OK
    assert f"slot {TAKEN_SLOT} already exists" in slots.message
    senders = result(results, "max_wal_senders")
    assert senders.status is Status.WARN
    assert "re-snapshot" in senders.message
    slot = result(results, "slot")
    assert slot.status is Status.OK
    assert f"slot {TAKEN_SLOT} (wal2json) retains" in slot.message


def test_role_without_replication_fails(login_role: Role) -> None:
    results = run_checks(login_role.dsn, slot="pgcdc", table_filter=EVERYTHING)
    check = result(results, "replication_privilege")
    assert check.status is Status.FAIL
    assert f"role {login_role.name} has no REPLICATION privilege" in check.message
    assert check.fix is not None
    assert f'ALTER ROLE "{login_role.name}" WITH REPLICATION' in check.fix
    assert f'GRANT rds_replication TO "{login_role.name}"' in check.fix
    wal2json = result(results, "wal2json")
    assert wal2json.status is Status.WARN
    assert "not checked: the role may not use slots" in wal2json.message
    assert not capture_is_safe(results)


def test_missing_select_privilege_fails_naming_the_tables(
    pg_dsn: str, login_role: Role, slot_name: str
) -> None:
    role = login_role.name
    execute(
        pg_dsn,
        grant("ALTER ROLE {} WITH REPLICATION", role),
        "CREATE TABLE readable (id int PRIMARY KEY)",
        "CREATE TABLE secret (id int PRIMARY KEY)",
        "CREATE SCHEMA hidden",
        "CREATE TABLE hidden.granted (id int PRIMARY KEY)",
        grant("GRANT SELECT ON readable, hidden.granted TO {}", role),
    )
    results = run_checks(login_role.dsn, slot=slot_name, table_filter=EVERYTHING)
    check = result(results, "select_privilege")
    assert check.status is Status.FAIL
    assert (
        check.message == f"role {role} cannot read 2 tables captured: hidden.granted, public.secret"
    )
    assert check.fix is not None
    assert f'GRANT SELECT ON "hidden"."granted", "public"."secret" TO "{role}"' in check.fix
    assert f'GRANT USAGE ON SCHEMA "hidden" TO "{role}"' in check.fix
    assert result(results, "replication_privilege").status is Status.OK
    assert result(results, "wal2json").status in (Status.OK, Status.WARN)

    execute(
        pg_dsn,
        grant("GRANT SELECT ON secret TO {}", role),
        grant("GRANT USAGE ON SCHEMA hidden TO {}", role),
    )
    again = result(
        run_checks(login_role.dsn, slot=slot_name, table_filter=EVERYTHING), "select_privilege"
    )
    assert again.status is Status.OK


def test_table_without_key_fails_until_replica_identity_full(pg_dsn: str, slot_name: str) -> None:
    execute(
        pg_dsn,
        'CREATE TABLE "Odd ""name""" (a int)',
        "CREATE TABLE keyed (id int PRIMARY KEY)",
        "CREATE TABLE nothing (id int PRIMARY KEY)",
        "ALTER TABLE nothing REPLICA IDENTITY NOTHING",
        "CREATE TABLE parted (a int) PARTITION BY RANGE (a)",
        "CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10)",
    )
    results = run_checks(pg_dsn, slot=slot_name, table_filter=EVERYTHING)
    check = result(results, "replica_identity")
    assert check.status is Status.FAIL
    assert "wal2json silently drops their updates and deletes" in check.message
    assert check.message.endswith(': public.Odd "name", public.nothing, public.parted_1')
    assert check.fix is not None
    assert 'ALTER TABLE "public"."Odd ""name""" REPLICA IDENTITY FULL' in check.fix
    assert 'ALTER TABLE "public"."parted_1" REPLICA IDENTITY FULL' in check.fix
    assert not capture_is_safe(results)

    execute(
        pg_dsn,
        'ALTER TABLE "Odd ""name""" REPLICA IDENTITY FULL',
        "ALTER TABLE nothing REPLICA IDENTITY FULL",
        "ALTER TABLE parted_1 REPLICA IDENTITY FULL",
    )
    results = run_checks(pg_dsn, slot=slot_name, table_filter=EVERYTHING)
    assert result(results, "replica_identity").status is Status.OK
    assert capture_is_safe(results)


def test_filter_leaves_unmatched_tables_out(pg_dsn: str, slot_name: str) -> None:
    execute(pg_dsn, "CREATE TABLE nokey (a int)", "CREATE TABLE keyed (id int PRIMARY KEY)")
    results = run_checks(
        pg_dsn, slot=slot_name, table_filter=TableFilter(exclude=("public.nokey",))
    )
    assert result(results, "captured_tables").message == "1 table captured: public.keyed"
    assert result(results, "replica_identity").status is Status.OK


def test_filter_matching_nothing_fails(pg_dsn: str, slot_name: str) -> None:
    """Capture would run and store nothing, every time: not safe."""
    execute(pg_dsn, "CREATE TABLE item (id int PRIMARY KEY)")
    table_filter = TableFilter(include=("sales.*",))
    check = result(run_checks(pg_dsn, slot=slot_name, table_filter=table_filter), "captured_tables")
    assert check.status is Status.FAIL
    assert "no table matches the filter (include=['sales.*']" in check.message
    assert check.fix is not None and "PGCDC_TABLES" in check.fix


def test_unlogged_table_warns(pg_dsn: str, slot_name: str) -> None:
    execute(pg_dsn, "CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY)")
    check = result(run_checks(pg_dsn, slot=slot_name, table_filter=EVERYTHING), "captured_tables")
    assert check.status is Status.WARN
    assert "UNLOGGED" in check.message and "public.scratch" in check.message
    assert check.fix is not None and 'ALTER TABLE "public"."scratch" SET LOGGED' in check.fix


def test_wrong_password_is_one_clean_failure(pg_dsn: str) -> None:
    info = conninfo_to_dict(pg_dsn)
    password = f"wrong-{secrets.token_urlsafe(12)}"
    dsn = with_credentials(pg_dsn, str(info["user"]), password)
    results = run_checks(dsn, slot="pgcdc", table_filter=EVERYTHING)
    assert len(results) == 1
    (check,) = results
    assert (check.name, check.status) == ("connection", Status.FAIL)
    target = f"{info['user']}@{info['host']}:{info['port']}/{info['dbname']}"
    assert check.message == (
        f'cannot connect to {target}: password authentication failed for user "{info["user"]}"'
    )
    assert "\n" not in check.message
    for text in (check.message, check.fix or ""):
        assert password not in text
        assert str(info.get("password")) not in text
        assert dsn not in text
    assert not capture_is_safe(results)


def test_slot_of_another_plugin_fails(pg_dsn: str, slot_name: str) -> None:
    create_slot(pg_dsn, slot_name, "test_decoding")
    results = run_checks(pg_dsn, slot=slot_name, table_filter=EVERYTHING)
    check = result(results, "slot")
    assert check.status is Status.FAIL
    assert check.message == f"slot {slot_name} exists but is a logical slot of plugin test_decoding"
    assert check.fix is not None
    assert f"SELECT pg_drop_replication_slot('{slot_name}')" in check.fix
    assert not capture_is_safe(results)


def test_slot_in_another_database_fails(pg_dsn: str, pg_server: PgServer, slot_name: str) -> None:
    other = pg_server.create_database("other")
    try:
        create_slot(pg_server.dsn(other), slot_name, "wal2json")
        check = result(run_checks(pg_dsn, slot=slot_name, table_filter=EVERYTHING), "slot")
    finally:
        pg_server.drop_database(other)
    assert check.status is Status.FAIL
    assert check.message == f"slot {slot_name} belongs to database {other}"


def test_existing_slot_reports_retained_wal(pg_dsn: str, slot_name: str) -> None:
    create_slot(pg_dsn, slot_name, "wal2json")
    execute(
        pg_dsn,
        "CREATE TABLE item (id int PRIMARY KEY)",
        "INSERT INTO item SELECT generate_series(1, 1000)",
    )
    results = run_checks(pg_dsn, slot=slot_name, table_filter=EVERYTHING)
    check = result(results, "slot")
    assert check.status is Status.OK
    assert check.message.startswith(f"slot {slot_name} (wal2json) retains ")
    assert check.message.endswith(" of WAL, reserved")
    assert "unknown" not in check.message


def test_slot_active_elsewhere_warns(pg_dsn: str, slot_name: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as holder:
        # a temporary slot stays active, held by the session that created it
        holder.execute(
            "SELECT pg_create_logical_replication_slot(%s, 'wal2json', true)", (slot_name,)
        )
        pid = holder.info.backend_pid
        check = result(run_checks(pg_dsn, slot=slot_name, table_filter=EVERYTHING), "slot")
    assert check.status is Status.WARN
    assert check.message.endswith(f"in use by pid {pid}")
    assert check.fix is not None and "only one capture" in check.fix


def test_invalid_slot_name_fails(pg_dsn: str) -> None:
    check = result(run_checks(pg_dsn, slot="Bad-Name", table_filter=EVERYTHING), "slot")
    assert check.status is Status.FAIL
    assert check.message == "'Bad-Name' is not a valid slot name"


def test_probe_gives_up_on_a_long_transaction(
    pg_dsn: str, slot_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preflight, "PROBE_TIMEOUT_MS", 500)
    with psycopg.connect(pg_dsn) as blocker:
        blocker.execute("SELECT txid_current()")  # an open transaction with an xid
        results = run_checks(pg_dsn, slot=slot_name, table_filter=EVERYTHING)
        blocker.rollback()
    check = result(results, "wal2json")
    assert check.status is Status.WARN
    assert "waited over 0.5 s for open transactions" in check.message
    assert check.fix is not None and "pg_stat_activity" in check.fix


def test_wal2json_not_in_output_plugin_libraries_fails() -> None:
    """Security releases of some builds accept only the plugins output_plugin_libraries lists."""
    if "output_plugin_libraries" not in server_settings_known():
        pytest.skip("this server build has no output_plugin_libraries setting")
    settings = {"output_plugin_libraries": "'pgoutput, test_decoding'"}
    with extra_cluster(settings) as cluster:
        results = run_checks(cluster.dsn(), slot="pgcdc", table_filter=EVERYTHING)
    found = result(results, "wal2json")
    assert found.status is Status.FAIL
    assert "not allowed" in found.message
    assert found.fix is not None and "output_plugin_libraries" in found.fix
    assert "wal2json" in found.fix
    assert not capture_is_safe(results)
