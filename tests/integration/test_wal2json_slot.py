"""The harness's Postgres decodes inserts, updates and deletes through a wal2json v2 slot."""

from __future__ import annotations

import json

import psycopg
import pytest

pytestmark = pytest.mark.integration

OPTIONS = ("format-version", "2", "include-xids", "1", "include-lsn", "1", "include-pk", "1")


def test_insert_update_delete_come_back_through_the_slot(pg_dsn: str, slot_name: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE item (id int PRIMARY KEY, name text, price numeric(10,2))")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", (slot_name,))
        conn.execute("INSERT INTO item VALUES (1, 'bag', 2.50), (2, 'tote', 3.10)")
        conn.execute("UPDATE item SET price = 2.75 WHERE id = 1")
        conn.execute("DELETE FROM item WHERE id = 2")
        rows = conn.execute(
            "SELECT lsn::text, xid::text, data FROM pg_logical_slot_get_changes("
            "%s, NULL, NULL, VARIADIC %s::text[])",
            (slot_name, list(OPTIONS)),
        ).fetchall()
        again = conn.execute(
            "SELECT count(*) FROM pg_logical_slot_peek_changes(%s, NULL, NULL, "
            "'format-version', '2')",
            (slot_name,),
        ).fetchone()
    changes = [json.loads(data) for _, _, data in rows]
    actions = [c["action"] for c in changes]
    assert actions == ["B", "I", "I", "C", "B", "U", "C", "B", "D", "C"]
    inserted = [
        {col["name"]: col["value"] for col in c["columns"]} for c in changes if c["action"] == "I"
    ]
    assert inserted == [
        {"id": 1, "name": "bag", "price": 2.5},
        {"id": 2, "name": "tote", "price": 3.1},
    ]
    update = next(c for c in changes if c["action"] == "U")
    assert {col["name"]: col["value"] for col in update["columns"]}["price"] == 2.75
    assert update["identity"] == [{"name": "id", "type": "integer", "value": 1}]
    delete = next(c for c in changes if c["action"] == "D")
    assert delete["table"] == "item" and delete["identity"][0]["value"] == 2
    assert all(c["xid"] for c in changes)
    # get_changes consumed them: the slot has moved past all three transactions
    assert again == (0,)
