"""An oracle for the warehouse that shares nothing with the product.

The source records every version of every row itself: an audit trigger on each demo table
writes ``OLD``/``NEW`` as JSON with the transaction id into ``oracle.audit`` (a schema the
capture leaves out). The expected warehouse is then computed here, in PostgreSQL SQL written
from the reference model (``reference/totesys.md``), not from ``pgcdc/transformer/sql``:

- facts: one row per recorded version (an insert's or update's ``NEW``; a delete's ``OLD``,
  marked deleted; a key-changing update also ends the old key with its ``OLD``, marked
  deleted), in the order the versions happened;
- current fact views and mirrors: the source tables as they are now;
- dimensions (type 1): every member the source ever had, with its latest values (a member
  deleted or moved by a key change keeps the values it last had, since older fact versions
  refer to it);
- ``dim_date``: exactly the dates that the expected fact versions use.

:func:`assert_warehouse_equals_oracle` compares every column of every row both ways, and
checks that versions of one transaction share one ``source_lsn`` and versions of different
transactions never do.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pgcdc.schemas.tables import TableFilter
from tests.integration.capture_support import DEMO_TABLES

AUDIT_SCHEMA = "oracle"
LEAVE_OUT = TableFilter(exclude=(f"{AUDIT_SCHEMA}.*",))
"""What capture and snapshot must be told so the audit table is not captured."""

_AUDIT_DDL = """
CREATE SCHEMA oracle;
CREATE TABLE oracle.audit (
    id bigserial PRIMARY KEY,
    tbl text NOT NULL,
    op text NOT NULL,
    xid bigint NOT NULL,
    old jsonb,
    new jsonb
);
CREATE FUNCTION oracle.record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        INSERT INTO oracle.audit (tbl, op, xid) VALUES (TG_TABLE_NAME, 'T', txid_current());
    ELSE
        INSERT INTO oracle.audit (tbl, op, xid, old, new) VALUES (
            TG_TABLE_NAME, left(TG_OP, 1), txid_current(),
            CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
            CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
    END IF;
    RETURN NULL;
END $$;
"""


# The time split and the text dates cast to date, as the reference defines the facts.
_STAMPS = """r.created_at::date AS created_date, r.created_at::time AS created_time,
             r.last_updated::date AS last_updated_date,
             r.last_updated::time AS last_updated_time"""


@dataclass(frozen=True)
class Fact:
    """A fact table of the reference model: its source table, entity and columns."""

    source: str
    entity: str
    columns: str
    """SELECT list over ``r``, a row of the source table, in the reference's names."""
    dates: tuple[str, ...]


FACTS = {
    "fact_sales_order": Fact(
        "sales_order",
        "sales_order_id",
        f"""r.sales_order_id, {_STAMPS}, r.staff_id AS sales_staff_id, r.counterparty_id,
            r.units_sold, r.unit_price, r.currency_id, r.design_id,
            r.agreed_payment_date::date AS agreed_payment_date,
            r.agreed_delivery_date::date AS agreed_delivery_date,
            r.agreed_delivery_location_id""",
        ("created_date", "last_updated_date", "agreed_payment_date", "agreed_delivery_date"),
    ),
    "fact_purchase_order": Fact(
        "purchase_order",
        "purchase_order_id",
        f"""r.purchase_order_id, {_STAMPS}, r.staff_id, r.counterparty_id, r.item_code,
            r.item_quantity, r.item_unit_price, r.currency_id,
            r.agreed_delivery_date::date AS agreed_delivery_date,
            r.agreed_payment_date::date AS agreed_payment_date,
            r.agreed_delivery_location_id""",
        ("created_date", "last_updated_date", "agreed_payment_date", "agreed_delivery_date"),
    ),
    "fact_payment": Fact(
        "payment",
        "payment_id",
        f"""r.payment_id, {_STAMPS}, r.transaction_id, r.counterparty_id, r.payment_amount,
            r.currency_id, r.payment_type_id, r.paid, r.payment_date::date AS payment_date""",
        ("created_date", "last_updated_date", "payment_date"),
    ),
}

DIMENSIONS = {
    "dim_staff": """SELECT s.staff_id, s.first_name, s.last_name, d.department_name,
                           d.location, s.email_address
                    FROM {staff} s JOIN department d ON d.department_id = s.department_id""",
    "dim_location": """SELECT address_id AS location_id, address_line_1, address_line_2,
                              district, city, postal_code, country, phone FROM {address} AS a""",
    "dim_design": "SELECT design_id, design_name, file_location, file_name FROM {design} AS d",
    "dim_counterparty": """SELECT c.counterparty_id, c.counterparty_legal_name,
            a.address_line_1 AS counterparty_legal_address_line_1,
            a.address_line_2 AS counterparty_legal_address_line_2,
            a.district AS counterparty_legal_district, a.city AS counterparty_legal_city,
            a.postal_code AS counterparty_legal_postal_code,
            a.country AS counterparty_legal_country,
            a.phone AS counterparty_legal_phone_number
            FROM {counterparty} c JOIN address a ON a.address_id = c.legal_address_id""",
    "dim_transaction": """SELECT transaction_id, transaction_type::text AS transaction_type,
                                 sales_order_id, purchase_order_id FROM {transaction} AS t""",
    "dim_payment_type": """SELECT payment_type_id, payment_type_name::text AS payment_type_name
                           FROM {payment_type} AS p""",
    # ISO 4217 names, written out here so the product's lookup is not the oracle
    "dim_currency": """SELECT currency_id, currency_code,
            CASE currency_code WHEN 'GBP' THEN 'Pound Sterling' WHEN 'USD' THEN 'US Dollar'
                               WHEN 'EUR' THEN 'Euro' END AS currency_name FROM {currency} AS c""",
}
"""Each dimension over its main table ``{table}``: a dimension keeps every member it ever had
(facts' older versions refer to them), so the main table is :func:`ever_sql` of it."""

_KEYS = {
    "staff": "staff_id",
    "address": "address_id",
    "design": "design_id",
    "counterparty": "counterparty_id",
    "transaction": "transaction_id",
    "payment_type": "payment_type_id",
    "currency": "currency_id",
}


def ever_sql(table: str) -> str:
    """Every row the table ever had, by key: the current rows, and for each key it no longer
    holds (deleted, or moved by a key change) the last image the audit recorded of it."""
    key = _KEYS[table]
    return f"""(
    SELECT * FROM public.{table}
    UNION ALL
    SELECT (jsonb_populate_record(NULL::public.{table}, last.image)).* FROM (
        SELECT DISTINCT ON (k) k, image FROM (
            SELECT new ->> '{key}' AS k, new AS image, id, 1 AS sub FROM oracle.audit
            WHERE tbl = '{table}' AND new IS NOT NULL
            UNION ALL
            SELECT old ->> '{key}', old, id, 0 FROM oracle.audit
            WHERE tbl = '{table}' AND old IS NOT NULL
        ) AS images ORDER BY k, id DESC, sub DESC
    ) AS last
    WHERE NOT EXISTS (SELECT 1 FROM public.{table} AS t WHERE t.{key}::text = last.k)
)"""


def install_audit(conn: psycopg.Connection[Any], tables: Sequence[str] = DEMO_TABLES) -> None:
    """Create ``oracle.audit`` and a recording trigger on each table (row and truncate)."""
    conn.execute(_AUDIT_DDL)
    for table in tables:
        conn.execute(
            sql.SQL(
                "CREATE TRIGGER oracle_rows AFTER INSERT OR UPDATE OR DELETE ON {t} "
                "FOR EACH ROW EXECUTE FUNCTION oracle.record()"
            ).format(t=sql.Identifier("public", table))
        )
        conn.execute(
            sql.SQL(
                "CREATE TRIGGER oracle_truncate AFTER TRUNCATE ON {t} "
                "FOR EACH STATEMENT EXECUTE FUNCTION oracle.record()"
            ).format(t=sql.Identifier("public", table))
        )


def seed_demo_with_audit(dsn: str, *, scale: float, seed: int = 42) -> None:
    """The demo schema, the audit trigger on it, then the demo's generated history."""
    from pgcdc.devtools.demo.catalog import TABLES
    from pgcdc.devtools.demo.generator import generate
    from pgcdc.devtools.demo.install import create_schema
    from pgcdc.devtools.demo.loader import copy_rows, restart_sequence

    with psycopg.connect(dsn) as conn, conn.transaction():
        create_schema(conn, reset=False)
        install_audit(conn)
        data = generate(scale=scale, seed=seed)
        for table in TABLES:
            copy_rows(conn, table, data.rows[table.name])
            restart_sequence(conn, table)


def expected_versions_sql(fact: Fact) -> str:
    """Every recorded version of the fact's source rows, as fact rows, in recorded order."""
    return f"""
    WITH a AS (SELECT id, xid, op, old, new FROM oracle.audit WHERE tbl = '{fact.source}'),
    v AS (
        SELECT id, 1 AS sub, xid, new AS image, false AS deleted FROM a WHERE op IN ('I', 'U')
        UNION ALL
        SELECT id, 0, xid, old, true FROM a
        WHERE op = 'D' OR (op = 'U' AND old -> '{fact.entity}' <> new -> '{fact.entity}')
    )
    SELECT {fact.columns}, v.deleted, v.xid
    FROM v CROSS JOIN LATERAL jsonb_populate_record(NULL::public.{fact.source}, v.image) AS r
    ORDER BY v.id, v.sub"""


def current_fact_sql(fact: Fact) -> str:
    """The fact rows of the source table as it is now (what the current view must hold)."""
    return f"SELECT {fact.columns} FROM public.{fact.source} AS r"


def dim_date_sql(dates: set[dt.date]) -> tuple[str, list[list[dt.date]]]:
    """dim_date's expected rows for exactly these dates, computed by PostgreSQL."""
    query = """SELECT d::date AS date_id, extract(year FROM d)::int AS year,
                      extract(month FROM d)::int AS month, extract(day FROM d)::int AS day,
                      extract(isodow FROM d)::int AS day_of_week,
                      to_char(d, 'FMDay') AS day_name, to_char(d, 'FMMonth') AS month_name,
                      extract(quarter FROM d)::int AS quarter
               FROM unnest(%s::date[]) AS d"""
    return query, [sorted(dates)]


Rows = list[tuple[Any, ...]]


def _source(dsn: str, query: str, params: Sequence[Any] = ()) -> tuple[list[str], Rows]:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(query.encode(), params)  # the test's own fixed SQL
        assert cur.description is not None
        return [c.name for c in cur.description], [tuple(r) for r in cur.fetchall()]


def _diff(name: str, want: Rows, got: Rows) -> None:
    """Equal as multisets, with the first differences named when not."""
    want_sorted = sorted(want, key=repr)
    got_sorted = sorted(got, key=repr)
    if want_sorted == got_sorted:
        return
    missing = [r for r in want_sorted if r not in set(got_sorted)][:3]
    extra = [r for r in got_sorted if r not in set(want_sorted)][:3]
    raise AssertionError(
        f"{name}: expected {len(want)} rows, warehouse has {len(got)}; "
        f"missing {missing}; unexpected {extra}"
    )


def assert_warehouse_equals_oracle(dsn: str, warehouse_sql: Any) -> dict[str, int]:
    """Every star table, current view and mirror equals what the oracle computes from the
    source and its recorded history; returns the rows compared per table.

    ``warehouse_sql(text)`` runs a query on the warehouse and returns its rows as tuples.
    """
    compared: dict[str, int] = {}
    dates: set[dt.date] = set()
    for name, fact in FACTS.items():
        dates |= _assert_fact(dsn, warehouse_sql, name, fact)
        compared[name] = len(warehouse_sql(f"SELECT 1 FROM {name}"))
        columns, want = _source(dsn, current_fact_sql(fact))
        got = warehouse_sql(f"SELECT {', '.join(columns)} FROM {name}_current")
        _diff(f"{name}_current", want, got)
    for name, query in DIMENSIONS.items():
        columns, want = _source(dsn, query.format(**{t: ever_sql(t) for t in _KEYS}))
        _diff(name, want, warehouse_sql(f"SELECT {', '.join(columns)} FROM {name}"))
        compared[name] = len(want)
    columns, want = _source(dsn, *dim_date_sql(dates))
    _diff("dim_date", want, warehouse_sql(f"SELECT {', '.join(columns)} FROM dim_date"))
    compared["dim_date"] = len(want)
    for table in DEMO_TABLES:
        columns, want = _source(dsn, f"SELECT * FROM public.{table}")
        quoted = ", ".join(f'"{c}"' for c in columns)
        _diff(
            f"mirror of {table}",
            want,
            warehouse_sql(f'SELECT {quoted} FROM "mirror_public"."{table}"'),
        )
        compared[f"mirror_public.{table}"] = len(want)
    return compared


def _assert_fact(dsn: str, warehouse_sql: Any, name: str, fact: Fact) -> set[dt.date]:
    """Per entity, the warehouse's versions (by source_lsn, source_seq) equal the recorded
    versions (in recorded order), every column; one transaction ↔ one source_lsn."""
    columns, recorded = _source(dsn, expected_versions_sql(fact))
    values = columns[:-2]  # the fact's columns, without deleted and xid
    got = warehouse_sql(
        f"SELECT {', '.join(values)}, deleted, source_lsn FROM {name} "
        f"ORDER BY {fact.entity}, source_lsn, source_seq"
    )
    want_by: dict[Any, Rows] = defaultdict(list)
    xids: dict[Any, list[int]] = defaultdict(list)
    for row in recorded:
        want_by[row[0]].append(row[:-1])
        xids[row[0]].append(row[-1])
    got_by: dict[Any, Rows] = defaultdict(list)
    lsns: dict[Any, list[int]] = defaultdict(list)
    for row in got:
        got_by[row[0]].append(tuple(row[:-1]))
        lsns[row[0]].append(row[-1])
    wrong = [k for k in set(want_by) | set(got_by) if want_by.get(k) != got_by.get(k)]
    assert not wrong, (
        f"{name}: versions differ for {len(wrong)} of {len(want_by)} {fact.entity}s; "
        f"first {sorted(wrong, key=repr)[0]}: recorded {want_by.get(sorted(wrong, key=repr)[0])} "
        f"warehouse {got_by.get(sorted(wrong, key=repr)[0])}"
    )
    _assert_one_lsn_per_transaction(name, xids, lsns)
    positions = [columns.index(d) for d in fact.dates]
    return {r[i] for r in recorded for i in positions if r[i] is not None}


def _assert_one_lsn_per_transaction(
    name: str, xids: dict[Any, list[int]], lsns: dict[Any, list[int]]
) -> None:
    lsn_of: dict[int, set[int]] = defaultdict(set)
    xid_of: dict[int, set[int]] = defaultdict(set)
    for entity, xs in xids.items():
        for xid, lsn in zip(xs, lsns[entity], strict=True):
            lsn_of[xid].add(lsn)
            xid_of[lsn].add(xid)
    split = {x: s for x, s in lsn_of.items() if len(s) > 1}
    merged = {lsn: s for lsn, s in xid_of.items() if len(s) > 1}
    assert not split, f"{name}: one transaction's versions carry several source_lsn: {split}"
    assert not merged, f"{name}: several transactions share one source_lsn: {merged}"
