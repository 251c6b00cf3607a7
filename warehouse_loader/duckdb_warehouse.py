"""The embedded warehouse: a DuckDB file."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from schemas.tables import quote_ident
from warehouse_loader.warehouse import Warehouse


class DuckDBWarehouse(Warehouse):
    """A DuckDB database file (created with its folder on first use)."""

    def __init__(self, path: str) -> None:
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(str(Path(path).expanduser()))
        self._staged: list[str] = []

    def quote(self, name: str) -> str:
        """Quote one identifier (:func:`schemas.tables.quote_ident`)."""
        return quote_ident(name)

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Run one statement."""
        cur = self._con.execute(sql, list(params))
        return cur.fetchall() if cur.description else []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN … COMMIT (ROLLBACK on error); staged relations are dropped after."""
        self._con.begin()
        try:
            yield
        except BaseException:
            self._con.rollback()
            raise
        else:
            self._con.commit()
        finally:
            for name in self._staged:
                self._con.unregister(name)
            self._staged.clear()

    def stage(self, name: str, rows: pa.Table) -> str:
        """Register the Arrow rows as a view (no copy)."""
        self._con.register(name, rows)
        self._staged.append(name)
        return quote_ident(name)

    def column_types(self, staging: str, rows: pa.Table) -> list[tuple[str, str]]:
        """DuckDB's own types of the staged columns."""
        described = self._con.execute(f"DESCRIBE SELECT * FROM {staging}").fetchall()
        return [(str(r[0]), str(r[1])) for r in described]

    def existing_relations(self) -> set[str]:
        """Tables and views of the main schema."""
        rows = self._con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
        return {str(r[0]) for r in rows}

    def close(self) -> None:
        """Close the file."""
        self._con.close()
