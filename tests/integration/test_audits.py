"""The audits after each batch: a fact pointing at no dimension row is reported at ERROR,
checked on the entities the batch brought (their current version), on both warehouses."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.integration.warehouse_support import demo_pipeline

pytestmark = pytest.mark.integration


def test_dangling_staff_id_is_reported_until_fixed(
    pg_dsn: str,
    slot_name: str,
    tmp_path: Path,
    warehouse_uri: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the source's foreign key dropped, an order moved to a staff id that does not
    exist loads, and the audit names it at ERROR; the batch that repairs it audits clean."""
    p = demo_pipeline(pg_dsn, slot_name, tmp_path, warehouse_uri)
    p.capture()
    p.transform()
    assert p.load().problems == []
    p.source("ALTER TABLE sales_order DROP CONSTRAINT sales_order_staff_id_fkey")
    (bad,) = p.source("SELECT max(sales_order_id) FROM sales_order")[0]
    p.source("UPDATE sales_order SET staff_id = 999999 WHERE sales_order_id = %s", (bad,))
    p.capture()
    p.transform()
    with caplog.at_level(logging.ERROR, logger="pgcdc"):
        result = p.load()
    assert result.batches == 1
    assert result.problems == [("fact_sales_order", bad, "sales_staff_id not in dim_staff")]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert f"audit failed: fact_sales_order id {bad}: sales_staff_id not in dim_staff" in errors
    p.source(
        "UPDATE sales_order SET staff_id = (SELECT min(staff_id) FROM staff) "
        "WHERE sales_order_id = %s",
        (bad,),
    )
    p.capture()
    p.transform()
    fixed = p.load()
    assert fixed.batches == 1 and fixed.problems == []
