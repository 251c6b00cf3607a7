"""The warehouse against an independent oracle: every column of every row, both ways.

The source records its own history with an audit trigger (tests/integration/oracle.py); the
expected star schema is computed from that record and the source tables by SQL written from
the reference model. The run covers what changes a warehouse: a snapshot bootstrap, several
workload rounds (new, amended, paid and cancelled orders, design and staff edits), primary-key
changes that cascade, a department rename, and a re-snapshot of a fact's source table while
its changes keep coming.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pgcdc.cdc_reader.snapshot import SnapshotOptions, snapshot
from pgcdc.devtools.demo import run_workload
from pgcdc.schemas.tables import TableName
from pgcdc.storage import open_store
from tests.integration.oracle import LEAVE_OUT, assert_warehouse_equals_oracle, seed_demo_with_audit
from tests.integration.warehouse_support import Pipeline

pytestmark = pytest.mark.integration

_CHANGE_KEYS = """
    UPDATE sales_order SET sales_order_id = (SELECT max(sales_order_id) + 1000 FROM sales_order)
    WHERE sales_order_id = (SELECT min(sales_order_id) FROM sales_order);
    UPDATE design SET design_id = (SELECT max(design_id) + 1000 FROM design)
    WHERE design_id = (SELECT min(design_id) FROM design WHERE design_id IN
                       (SELECT design_id FROM sales_order));
"""
_RENAME_DEPARTMENT = """
    UPDATE department SET department_name = department_name || ' (renamed)',
                          last_updated = now()
    WHERE department_id = (SELECT department_id FROM staff ORDER BY staff_id LIMIT 1)
"""


# Members that come and go between two runs: no current row has them, older fact versions may.
_COME_AND_GO = """
    WITH d AS (INSERT INTO design (design_name, file_location, file_name, last_updated)
               VALUES ('Brief', '/tmp', 'brief.json', now()) RETURNING design_id)
    DELETE FROM design WHERE design_id IN (SELECT design_id FROM d);
    WITH t AS (INSERT INTO transaction (transaction_type, last_updated)
               VALUES ('SALE', now()) RETURNING transaction_id)
    DELETE FROM transaction WHERE transaction_id IN (SELECT transaction_id FROM t);
"""


def _workload(p: Pipeline, transactions: int, seed: int) -> None:
    """A fixed number of the demo's transactions (so every run covers the same changes)."""
    run_workload(p.dsn, rate=0, duration=600, seed=seed, max_transactions=transactions)


def _resnapshot(p: Pipeline, table: str) -> None:
    snapshot(
        p.dsn,
        p.raw,
        SnapshotOptions(slot=p.slot, table_filter=LEAVE_OUT, tables=(TableName("public", table),)),
    )


def test_warehouse_equals_oracle(
    pg_dsn: str, slot_name: str, tmp_path: Path, warehouse_uri: str
) -> None:
    seed_demo_with_audit(pg_dsn, scale=0.02)
    p = Pipeline(
        pg_dsn,
        slot_name,
        open_store(str(tmp_path / "raw")),
        open_store(str(tmp_path / "processed")),
        warehouse_uri,
        table_filter=LEAVE_OUT,
    )
    snapshot(pg_dsn, p.raw, SnapshotOptions(slot=slot_name, table_filter=LEAVE_OUT))
    p.cycle()

    _workload(p, 300, seed=11)
    p.source(_CHANGE_KEYS)
    p.source(_RENAME_DEPARTMENT)
    p.cycle()

    _workload(p, 150, seed=12)
    _resnapshot(p, "sales_order")
    _workload(p, 150, seed=13)
    p.cycle()

    _workload(p, 300, seed=14)
    p.capture()
    p.source(_COME_AND_GO)
    _workload(p, 150, seed=15)
    p.cycle()

    compared = assert_warehouse_equals_oracle(pg_dsn, p.sql)

    # the record holds what the run set out to cover, so the comparison covered it too
    ((updates, deletes, moved),) = p.source(
        """SELECT count(*) FILTER (WHERE op = 'U'), count(*) FILTER (WHERE op = 'D'),
                  count(*) FILTER (WHERE op = 'U'
                                   AND old->'sales_order_id' <> new->'sales_order_id')
           FROM oracle.audit WHERE tbl = 'sales_order'"""
    )
    assert updates > 10 and deletes > 0 and moved == 1
    ((paid,),) = p.source(
        "SELECT count(*) FROM oracle.audit WHERE tbl = 'payment' AND op = 'U' "
        "AND (old->>'paid')::bool <> (new->>'paid')::bool"
    )
    assert paid > 0
    assert compared["fact_sales_order"] > compared["mirror_public.sales_order"]
