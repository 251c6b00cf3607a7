"""The one exception tree of pgcdc, grouped by what the caller should do.

- :class:`TerminalError`: retrying will not help (bad credentials, missing privilege,
  missing plugin, slot held by someone else, a store path that cannot be written, an unknown
  host name). Exit non-zero with one clear line.
- :class:`TransientError`: retry with backoff (connection refused or lost, throttling, S3
  5xx).
- :class:`LoadError`: the warehouse refused one table's rows of a batch; quarantine them
  and go on with the rest.
- :class:`ConfigurationError`: the settings are wrong; nothing was attempted.

Messages name what was wrong and where (table, column, LSN, file) and never hold secrets.
"""

from __future__ import annotations

from pgcdc.schemas.lsn import Lsn


class PgcdcError(Exception):
    """Root of every error pgcdc raises on purpose."""


class TerminalError(PgcdcError):
    """An error that retrying will not fix."""


class TransientError(PgcdcError):
    """An error worth retrying with backoff."""


class ConfigurationError(TerminalError):
    """Settings that cannot work; raised before anything is attempted."""


class SourceError(TerminalError):
    """The source database cannot be captured from as it is set up."""


class DecodeError(TerminalError):
    """Malformed change data; names the LSN, table and column where known."""

    def __init__(
        self,
        message: str,
        *,
        lsn: Lsn | str | None = None,
        table: str | None = None,
        column: str | None = None,
    ) -> None:
        # the decoders carry a change's position as the text they read (parsing it for every
        # row would cost more than the row): it becomes an Lsn here, on the error path only
        self.lsn = _position(lsn)
        shown = self.lsn if self.lsn is not None else lsn
        where = ", ".join(
            f"{k}={v}" for k, v in (("lsn", shown), ("table", table), ("column", column)) if v
        )
        super().__init__(f"{message} ({where})" if where else message)
        self.table = table
        self.column = column


class SourceUnreachableError(TransientError):
    """The source server could not be reached (connection refused, no route, timed out):
    worth a few brief tries, not a long wait. Names host and port, never the password."""


class StorageError(TransientError):
    """A storage operation failed in a way that may succeed on retry."""


class LoadError(PgcdcError):
    """A warehouse refused one table's rows of a batch (a driver error: a constraint, a
    type, a missing column); the rest of the batch can still be loaded.

    The message is one line naming the table and the batch, then the driver's own first line.
    """

    def __init__(self, message: str, *, table: str, batch: int) -> None:
        super().__init__(f"batch {batch}: table {table} not loaded: {message}")
        self.table = table
        self.batch = batch


class StorageDeniedError(TerminalError):
    """A store refused an operation in a way retrying will not fix; names the store and the
    object or path. On S3: access denied, unknown or expired credentials. On a local path:
    no permission, a read-only file system, or a path that cannot exist (a parent that is a
    file or cannot be created, such as ``/proc/x``)."""


def _position(lsn: Lsn | str | None) -> Lsn | None:
    """``lsn`` as an Lsn; None when absent or not a position (the text still shows)."""
    if lsn is None or isinstance(lsn, Lsn):
        return lsn
    try:
        return Lsn.parse(lsn)
    except ValueError:
        return None
