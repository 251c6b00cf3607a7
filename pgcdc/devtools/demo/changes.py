"""Counting row changes per table and action, as a workload makes them."""

from __future__ import annotations

from collections import Counter
from typing import Literal

Action = Literal["insert", "update", "delete"]


class Changes:
    """Rows inserted, updated and deleted, per table."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, Action]] = Counter()

    def add(self, table: str, action: Action, rows: int = 1) -> None:
        """Count ``rows`` rows of ``table`` changed by ``action``."""
        if rows:
            self._counts[table, action] += rows

    def merge(self, other: Changes) -> None:
        """Add every count of ``other`` to this one."""
        self._counts.update(other._counts)

    def by_table(self, action: Action) -> dict[str, int]:
        """Rows changed by ``action``, per table (tables with none left out)."""
        return {table: n for (table, act), n in sorted(self._counts.items()) if act == action}

    def total(self, action: Action) -> int:
        """Rows changed by ``action`` in all tables."""
        return sum(n for (_, act), n in self._counts.items() if act == action)

    def __bool__(self) -> bool:
        return any(self._counts.values())
