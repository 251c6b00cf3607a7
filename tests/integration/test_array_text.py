"""Array literals as Postgres prints them parse back to the elements Postgres holds.

The codec reads array text with psycopg's own text array loader; this holds it to
Postgres' output form (quoting, NULL and null, delimiters, braces, nesting, bounds).
"""

from __future__ import annotations

from typing import Any

import pytest

from pgcdc.cdc_reader.codec import array_depth, parse_array
from tests.fixtures.record_wal2json import session

pytestmark = pytest.mark.integration

ARRAYS = [
    "ARRAY['null', 'NULL', NULL, ' 1 ', 'a,b', '', 'a\"b', 'a\\b', '{x}', ' ', 'x}', '\\']",
    "ARRAY['héllo', '👋', 'a b', E'tab\\there', E'new\\nline']",
    "'{}'::integer[]",
    "'{{1,2},{3,NULL}}'::integer[]",
    "'{{{1}},{{2}}}'::integer[]",
    "'[0:2]={7,8,9}'::integer[]",
    "ARRAY[['a,b', 'c'], ['{', '}']]",
    "ARRAY['2020-01-01 00:00:00+00'::timestamptz, '-infinity', NULL]",
    "ARRAY[1.5, 'NaN']::numeric[]",
    "ARRAY['\\x00ff'::bytea, NULL]",
    "ARRAY['{\"a\": [1, \"b,c\"]}'::jsonb, 'null']",
    "ARRAY['(1,2)'::point]",
]


def flatten(value: list[Any]) -> list[Any]:
    return (
        [e for item in value for e in flatten(item)]
        if value and isinstance(value[0], list)
        else value
    )


@pytest.mark.parametrize("expr", ARRAYS)
def test_postgres_array_output_parses_to_its_elements(pg_dsn: str, expr: str) -> None:
    query = (
        f"SELECT a::text, coalesce(array_ndims(a), 1),"
        f" ARRAY(SELECT e::text FROM unnest(a) WITH ORDINALITY AS u(e, n) ORDER BY n)"
        f" FROM (SELECT {expr} AS a) AS t"
    )
    with session(pg_dsn) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    literal, dims, elements = row
    parsed = parse_array(literal)
    assert flatten(parsed) == elements, literal
    assert array_depth(parsed) == dims, literal
