"""The SQL a loader runs, for either warehouse: identifiers come quoted by the caller's
function (``quote_ident`` for DuckDB, ``psycopg.sql.Identifier`` for PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

Quote = Callable[[str], str]

LOAD_STATE = "pgcdc_load_state"
NEWEST_COMMIT = "newest_commit"
"""The load-state column holding a batch's newest source commit time (NULL in rows loaded
before it existed, or from a manifest without it): what the warehouse's freshness is
measured from."""


def load_state_ddl(q: Quote) -> str:
    """The table holding the loader's position: one row per batch applied."""
    return (
        f"CREATE TABLE IF NOT EXISTS {q(LOAD_STATE)} (run BIGINT PRIMARY KEY, "
        "bound BIGINT NOT NULL, loaded_at TIMESTAMP WITH TIME ZONE NOT NULL, "
        f"{q(NEWEST_COMMIT)} TIMESTAMP WITH TIME ZONE)"
    )


def load_state_upgrade(q: Quote) -> str:
    """Add ``newest_commit`` to a load-state table created before it existed (nullable: the
    rows already there keep NULL)."""
    return (
        f"ALTER TABLE {q(LOAD_STATE)} ADD COLUMN IF NOT EXISTS "
        f"{q(NEWEST_COMMIT)} TIMESTAMP WITH TIME ZONE"
    )


def record_batch(q: Quote, p: str) -> str:
    """Insert one applied batch's row (run, bound, loaded_at, newest_commit), by column name."""
    return (
        f"INSERT INTO {q(LOAD_STATE)} (run, bound, loaded_at, {q(NEWEST_COMMIT)}) "
        f"VALUES ({p}, {p}, {p}, {p})"
    )


def create_table(
    q: Quote, table: str, columns: Sequence[tuple[str, str]], key: Sequence[str]
) -> str:
    """CREATE TABLE IF NOT EXISTS with the given (name, type) columns and primary key (none
    when ``key`` is empty: a multiset mirror, whose rows may repeat and hold NULLs)."""
    cols = ", ".join(f"{q(n)} {t}" for n, t in columns)
    pk = f", PRIMARY KEY ({', '.join(map(q, key))})" if key else ""
    return f"CREATE TABLE IF NOT EXISTS {table} ({cols}{pk})"


def _matches(q: Quote, key: Sequence[str]) -> str:
    return " AND ".join(f"t.{q(c)} = s.{q(c)}" for c in key)


def delete_matching(q: Quote, table: str, staging: str, key: Sequence[str]) -> str:
    """Remove the rows whose key is in the staging rows (an upsert's first half)."""
    return (
        f"DELETE FROM {table} AS t WHERE EXISTS "
        f"(SELECT 1 FROM {staging} AS s WHERE {_matches(q, key)})"
    )


def delete_same_rows(q: Quote, table: str, staging: str, columns: Sequence[str]) -> str:
    """Remove every copy of the staging rows (whole rows compared, NULL equal to NULL): a
    multiset mirror's rows whose count changed; the staging rows then put back the new count.
    """
    same = " AND ".join(f"t.{q(c)} IS NOT DISTINCT FROM s.{q(c)}" for c in columns)
    return f"DELETE FROM {table} AS t WHERE EXISTS (SELECT 1 FROM {staging} AS s WHERE {same})"


def insert_rows(
    q: Quote, table: str, staging: str, columns: Sequence[str], *, where: str = ""
) -> str:
    """Copy staging rows into the table."""
    cols = ", ".join(map(q, columns))
    return f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {staging} AS s {where}"


def insert_new(
    q: Quote, table: str, staging: str, columns: Sequence[str], key: Sequence[str]
) -> str:
    """Copy the staging rows whose key the table does not hold yet (facts: replay-safe)."""
    where = f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {_matches(q, key)})"
    return insert_rows(q, table, staging, columns, where=where)


def current_view(q: Quote, view: str, table: str, columns: Sequence[str], entity: str) -> str:
    """The latest version of each entity that is not deleted."""
    cols = ", ".join(map(q, columns))
    return (
        f"CREATE OR REPLACE VIEW {view} AS SELECT {cols} FROM (SELECT *, row_number() OVER "
        f"(PARTITION BY {q(entity)} ORDER BY {q('source_lsn')} DESC, {q('source_seq')} DESC) "
        f"AS _rn FROM {table}) AS v WHERE _rn = 1 AND NOT {q('deleted')}"
    )


LOAD_QUARANTINE = "pgcdc_load_quarantine"
"""One row per output of a batch the warehouse refused (or held back behind one)."""


def load_quarantine_ddl(q: Quote) -> str:
    """The table of refused outputs: run, warehouse table, the output (its manifest entry, as
    JSON, so it can be retried from the processed store), the reason, when."""
    return (
        f"CREATE TABLE IF NOT EXISTS {q(LOAD_QUARANTINE)} (run BIGINT NOT NULL, "
        "target TEXT NOT NULL, output TEXT NOT NULL, error TEXT NOT NULL, "
        "quarantined_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (run, target))"
    )


def quarantine_output(q: Quote, p: str) -> str:
    """Record one refused output (run, target, output, error, quarantined_at)."""
    return (
        f"INSERT INTO {q(LOAD_QUARANTINE)} (run, target, output, error, quarantined_at) "
        f"VALUES ({p}, {p}, {p}, {p}, {p})"
    )


def release_outputs(q: Quote, p: str, *, through: bool) -> str:
    """Forget a target's quarantined output of one run (``through``: of every run up to it)."""
    op = "<=" if through else "="
    return f"DELETE FROM {q(LOAD_QUARANTINE)} WHERE target = {p} AND run {op} {p}"


def quarantined_outputs(q: Quote) -> str:
    """(run, target, output) of every quarantined output, oldest first per target."""
    return f"SELECT run, target, output FROM {q(LOAD_QUARANTINE)} ORDER BY target, run"
