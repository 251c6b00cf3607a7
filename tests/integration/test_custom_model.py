"""PGCDC_MODEL_DIR: a user's own model folder replaces the shipped star schema."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from pgcdc.pipeline import config, service
from pgcdc.schemas.errors import ConfigurationError
from pgcdc.storage import open_store
from pgcdc.transformer.model import load_model
from tests.integration.warehouse_support import Pipeline

# no module-wide kind: tests/conftest.py makes the tests on the services integration tests

DIM_ITEM = """-- target: dim_item
-- kind: dimension
-- grain: one row per item, latest values (type 1)
-- key: item_id
-- sources: public.item
-- incremental: recomputed when item changes
SELECT id AS item_id, upper(name) AS item_name
FROM item
"""


def test_own_model_folder_is_transformed_and_loaded(
    pg_dsn: str, slot_name: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot_name,))
        conn.execute("CREATE TABLE public.item (id integer PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO public.item VALUES (1, 'one'), (2, 'two')")
    model = tmp_path / "model"
    model.mkdir()
    (model / "dim_item.sql").write_text(DIM_ITEM)
    warehouse = tmp_path / "warehouse.duckdb"
    settings = config.load_settings(
        source_dsn=pg_dsn,
        slot=slot_name,
        raw_uri=str(tmp_path / "raw"),
        processed_uri=str(tmp_path / "processed"),
        warehouse_uri=str(warehouse),
        model_dir=model,
    )
    service.capture_once(settings, service.capture_options(settings))
    result = service.transform_once(settings)
    assert result.run == 1
    service.load_once(settings)
    p = Pipeline(
        pg_dsn,
        slot_name,
        open_store(str(tmp_path / "raw")),
        open_store(str(tmp_path / "processed")),
        str(warehouse),
    )
    assert sorted(p.sql("SELECT item_id, item_name FROM dim_item")) == [(1, "ONE"), (2, "TWO")]
    # only the user's model ran: none of the shipped targets exist
    assert p.sql(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'dim_date'"
    ) == [(0,)]


def test_an_empty_model_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"holds no \.sql file"):
        load_model(tmp_path)
