"""Computing the star-schema targets of a run from versions and current states."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import duckdb
import pyarrow as pa

from pgcdc.transformer.arrowsql import arrow_query
from pgcdc.transformer.model import Target

States = Mapping[str, Callable[[], pa.Table]]


def iso_4217() -> pa.Table:
    """ISO 4217 currency codes and names, from the maintained ``pycountry`` data."""
    import pycountry

    rows = [(c.alpha_3, c.name) for c in pycountry.currencies]
    return pa.table(
        {
            "currency_code": pa.array([r[0] for r in rows], pa.string()),
            "currency_name": pa.array([r[1] for r in rows], pa.string()),
        }
    )


def run_sql(
    con: duckdb.DuckDBPyConnection, target: Target, inputs: Mapping[str, pa.Table]
) -> pa.Table:
    """A target's SQL over ``inputs`` bound under their names."""
    return arrow_query(con, target.sql, **inputs)


def changed_dimension_rows(
    con: duckdb.DuckDBPyConnection,
    target: Target,
    before: Mapping[str, pa.Table],
    after: Mapping[str, pa.Table],
) -> pa.Table:
    """The dimension rows that are new or differ once the sources changed (either side of a
    join: a department rename gives every staff row of that department)."""
    old = run_sql(con, target, before)
    new = run_sql(con, target, after)
    return arrow_query(con, "SELECT * FROM _new EXCEPT ALL SELECT * FROM _old", _old=old, _new=new)
