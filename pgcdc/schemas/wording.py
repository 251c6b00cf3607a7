"""Counted nouns for the lines people read ("1 batch", "2 batches", "0 changes")."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1 (``plural`` when not just ``noun + "s"``);
    thousands separated."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"
