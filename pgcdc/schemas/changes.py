"""The change events decoded from the source's log: a closed, frozen union.

A transaction arrives as :class:`Begin`, its changes in log order, then :class:`Commit`.
Every change inside carries the transaction's ``commit_lsn`` (the end of its commit record:
the position the slot moves to once the transaction is stored, and the ``_lsn`` column of
the raw store) and its ``seq``, its 0-based position among the transaction's changes, so
(``commit_lsn``, ``seq``) orders all changes of all tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.tables import TableName


class Op(StrEnum):
    """The ``_op`` column of the raw store."""

    SNAPSHOT = "r"
    INSERT = "c"
    UPDATE = "u"
    DELETE = "d"
    TRUNCATE = "t"


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Begin(_Event):
    """A transaction starts. Its changes follow, then its :class:`Commit`."""

    kind: Literal["begin"] = "begin"
    xid: int
    first_lsn: Lsn = Field(description="where the transaction's first change is")
    commit_lsn: Lsn = Field(description="end of the commit record (wal2json 'nextlsn')")
    commit_ts: AwareDatetime


class Commit(_Event):
    """A transaction ends; the slot may advance to ``commit_lsn`` once it is stored."""

    kind: Literal["commit"] = "commit"
    xid: int
    commit_lsn: Lsn = Field(description="end of the commit record: the slot's next start")
    commit_ts: AwareDatetime


class _RowEvent(_Event):
    lsn: Lsn = Field(description="the change's own position in the log")
    xid: int
    commit_lsn: Lsn
    seq: int = Field(ge=0)
    commit_ts: AwareDatetime
    table: TableName


class Insert(_RowEvent):
    """A new row: ``values`` holds every column."""

    kind: Literal["insert"] = "insert"
    values: Mapping[str, Any]

    @property
    def op(self) -> Op:
        return Op.INSERT


class Update(_RowEvent):
    """A changed row.

    ``values`` holds the new row except the ``unchanged`` columns: TOASTed values that did
    not change and that wal2json therefore did not send. ``old_key`` holds the previous key
    when the update changed it (or, for a table keyed by every column, the previous row);
    it is None when the key stayed the same.
    """

    kind: Literal["update"] = "update"
    values: Mapping[str, Any]
    unchanged: tuple[str, ...] = ()
    old_key: Mapping[str, Any] | None = None

    @property
    def op(self) -> Op:
        return Op.UPDATE


class Delete(_RowEvent):
    """A removed row: ``old_key`` is its key.

    ``values`` holds what the replica identity gives: the key columns only under
    ``REPLICA IDENTITY DEFAULT`` or ``USING INDEX``, the whole old row under ``FULL``.
    """

    kind: Literal["delete"] = "delete"
    values: Mapping[str, Any]
    old_key: Mapping[str, Any]

    @property
    def op(self) -> Op:
        return Op.DELETE


class Truncate(_RowEvent):
    """Every row of the table was removed."""

    kind: Literal["truncate"] = "truncate"

    @property
    def op(self) -> Op:
        return Op.TRUNCATE


class Message(_Event):
    """A logical message (``pg_logical_emit_message``).

    A transactional message belongs to its transaction (xid, commit_lsn, seq set); a
    non-transactional one arrives on its own, outside any transaction, with those None.
    """

    kind: Literal["message"] = "message"
    lsn: Lsn
    transactional: bool
    prefix: str
    content: str
    xid: int | None = None
    commit_lsn: Lsn | None = None
    seq: int | None = None
    commit_ts: datetime | None = None


RowChange = Insert | Update | Delete | Truncate
"""A change to a table's rows: what lands in the raw store."""

Change = Annotated[
    Begin | Commit | Insert | Update | Delete | Truncate | Message,
    Field(discriminator="kind"),
]
"""Anything the decoder yields."""
