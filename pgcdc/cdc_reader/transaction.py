"""A transaction's begin and commit as the capture hot loop sees them.

The columnar decoder hands these out instead of the validated events of
:mod:`pgcdc.schemas.changes` (same names, same fields): two per transaction, made from values it
has already checked, so they are plain tuples.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from pgcdc.schemas.lsn import Lsn


class Begin(NamedTuple):
    """A transaction starts. Its changes follow, then its :class:`Commit`."""

    xid: int
    first_lsn: Lsn
    """Where the transaction's first change is."""
    commit_lsn: Lsn
    """End of the commit record (wal2json's ``nextlsn``)."""
    commit_ts: datetime


class Commit(NamedTuple):
    """A transaction ends; the slot may advance to ``commit_lsn`` once it is stored."""

    xid: int
    commit_lsn: Lsn
    commit_ts: datetime
