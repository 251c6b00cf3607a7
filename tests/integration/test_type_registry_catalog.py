"""The type registry agrees with Postgres' own catalog on what it records of each type."""

from __future__ import annotations

import pytest

from pgcdc.schemas.pgtypes import KINDS
from tests.fixtures.record_wal2json import session

pytestmark = pytest.mark.integration


def test_names_oids_and_fixed_width_agree_with_pg_type(pg_dsn: str) -> None:
    wrong = []
    with session(pg_dsn) as conn:
        for kind in KINDS.values():
            for name in kind.names:
                row = conn.execute(
                    "SELECT t.oid::int, t.typlen > 0 FROM pg_type t WHERE t.oid = %s::regtype",
                    (name,),
                ).fetchone()
                assert row is not None, name
                oid, fixed = row
                if kind.oids and oid not in kind.oids:
                    wrong.append((name, "oid", oid))
                if kind.fixed_width and not fixed:  # a TOASTable type called fixed
                    wrong.append((name, "fixed width", fixed))
    assert wrong == []
