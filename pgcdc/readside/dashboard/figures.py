"""The dashboard's figures: every panel's query (``sql/*.sql``) run in one read of the warehouse.

Revenue panels read the ``*_current`` views, so an order updated five times counts once.
A panel whose query fails (a table the loader has not created yet) carries its error and the
other panels still show; a warehouse that cannot be opened at all raises, and the page keeps
the last figures it had.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from pgcdc.readside.warehouse import WarehouseQueryError, read_only


@dataclass(frozen=True)
class Panel:
    """One query's result: column names and rows, or why there are none."""

    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    error: str | None = None

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts, decimals as floats (what a chart's JSON spec can hold)."""
        return [
            {
                c: float(v) if isinstance(v, Decimal) else v
                for c, v in zip(self.columns, r, strict=True)
            }
            for r in self.rows
        ]


@dataclass(frozen=True)
class Figures:
    """Every panel as read at ``read_at`` (UTC)."""

    read_at: dt.datetime
    panels: dict[str, Panel] = field(default_factory=dict)

    def panel(self, name: str) -> Panel:
        """The named panel (an empty one carrying an error if it was never read)."""
        return self.panels.get(name, Panel(error=f"no panel {name!r}"))


@cache
def panel_queries() -> dict[str, str]:
    """The panel name (file stem) → SQL text of every file in ``sql/``."""
    folder = resources.files("pgcdc.readside.dashboard") / "sql"
    return {
        f.name.removesuffix(".sql"): f.read_text(encoding="utf-8")
        for f in sorted(folder.iterdir(), key=lambda f: f.name)
        if f.name.endswith(".sql")
    }


def read_figures(uri: str) -> Figures:
    """Run every panel's query in one short read-only session of the warehouse."""
    panels: dict[str, Panel] = {}
    with read_only(uri) as reader:
        for name, text in panel_queries().items():
            try:
                columns, rows = reader.query(text)
            except WarehouseQueryError as exc:
                panels[name] = Panel(error=str(exc))
            else:
                panels[name] = Panel(tuple(columns), tuple(rows))
    return Figures(read_at=dt.datetime.now(dt.UTC), panels=panels)
