"""How storage failures are classified and retried.

Two layers, because each catches what the other cannot:

- **Per request**, inside the AWS SDK that pyarrow's ``S3FileSystem`` wraps:
  :func:`s3_retry_strategy` retries every request answered with throttling (``SlowDown``,
  429), a 5xx, or a network failure (reset, refused, timed out), with exponential backoff.
  It is ``AwsDefaultS3RetryStrategy``, not pyarrow's default ``AwsStandardS3RetryStrategy``:
  the standard strategy also keeps a retry *quota* per client (a token bucket that each
  retried error drains), so under sustained 5xx it stops retrying whatever ``max_attempts``
  says (measured: 40 % of requests answered 503, 10 attempts, still 1 operation in 15 failed;
  with the default strategy none did).
- **Per store operation** (:func:`retrying`), for what still escapes as an ``OSError``: a
  request whose retries ran out, an error the SDK does not mark retryable, and a multipart
  completion whose first answer was lost (the retry then finds the upload gone). Every store
  operation is idempotent (writes rewrite the same bytes at the same key), so repeating the
  whole operation is safe.

:func:`storage_error` turns an ``OSError`` into the error tree of :mod:`pgcdc.schemas.errors`:
refusals that retrying cannot fix become :class:`~pgcdc.schemas.errors.StorageDeniedError`
(terminal), anything else :class:`~pgcdc.schemas.errors.StorageError` (transient). On S3 those are
access denied and bad credentials; on a local path (:func:`is_permanent_local`) no
permission, a read-only file system, a parent that is a file, and a folder that cannot be
created (``/proc/x``). Nothing above the store retries a terminal error.
"""

from __future__ import annotations

import errno
import logging
import re
from collections.abc import Callable
from typing import TypeVar

import pyarrow.fs as pafs
import tenacity

from pgcdc.schemas.errors import StorageDeniedError, StorageError

log = logging.getLogger("pgcdc.storage")

T = TypeVar("T")

REQUEST_ATTEMPTS = 8
"""Tries of one S3 request (the SDK's backoff doubles from 25 ms: at most ~6 s in all)."""
OPERATION_ATTEMPTS = 4
"""Tries of one store operation, each with its own request retries."""
OPERATION_FIRST_WAIT = 0.5
"""Pause before the second try of a store operation, in seconds (doubled each time, jittered)."""
OPERATION_WAIT_MAX = 8.0
"""Longest pause between two tries of a store operation, in seconds."""

# AWS SDK error types and S3 error codes that retrying cannot fix.
_DENIED = re.compile(
    r"ACCESS_DENIED|AccessDenied|INVALID_ACCESS_KEY_ID|InvalidAccessKeyId|"
    r"SIGNATURE_DOES_NOT_MATCH|SignatureDoesNotMatch|MISSING_AUTHENTICATION_TOKEN|"
    r"InvalidToken|ExpiredToken|HTTP status 403\b"
)


def s3_retry_strategy(attempts: int = REQUEST_ATTEMPTS) -> pafs.S3RetryStrategy:
    """The per-request retry strategy every S3 filesystem of pgcdc uses (see module doc)."""
    return pafs.AwsDefaultS3RetryStrategy(max_attempts=attempts)


# errno values of a local path that no retry can change: no permission, a read-only file
# system, a parent that is a file (ENOTDIR, or EEXIST from creating a folder where a file is),
# a folder where a file goes, a name too long, a loop of symbolic links.
_PERMANENT_ERRNOS = frozenset(
    {
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOTDIR,
        errno.EEXIST,
        errno.EISDIR,
        errno.ENAMETOOLONG,
        errno.ELOOP,
    }
)


def is_denied(exc: BaseException) -> bool:
    """Whether an S3 failure is a refusal retrying cannot fix (credentials, access)."""
    return bool(_DENIED.search(str(exc)))


def is_permanent_local(exc: OSError, doing: str) -> bool:
    """Whether a local file system failure of ``doing`` is one retrying cannot fix.

    A missing path counts only for a write: the store creates the folders it writes into,
    so a folder still missing is one that cannot be created (``/proc/x``), while a missing
    object on a read is the caller's business (``FileNotFoundError``)."""
    if exc.errno in _PERMANENT_ERRNOS:
        return True
    return exc.errno == errno.ENOENT and doing == "write"


def storage_error(
    exc: OSError, doing: str, url: str, *, local: bool = False, store: str | None = None
) -> StorageError | StorageDeniedError:
    """The pgcdc error for an ``OSError`` of ``doing`` (``"read"``, ``"write"``…) at ``url``
    of a ``local`` store or not, named ``store`` (``"raw store"``) if given: one line naming
    the operation, the store and the object, terminal or transient as classified."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    where = f"{url} ({store})" if store else url
    message = f"cannot {doing} {where}: {detail}"
    terminal = is_permanent_local(exc, doing) if local else is_denied(exc)
    if terminal:
        return StorageDeniedError(f"{message} — retrying will not help")
    return StorageError(message)


def retrying(
    call: Callable[[], T],
    what: str,
    *,
    attempts: int = OPERATION_ATTEMPTS,
    first_wait: float | None = None,
) -> T:
    """Run one store operation, again with backoff while it fails with a :class:`StorageError`
    (terminal errors and ``FileNotFoundError`` are raised at once). ``what`` names the
    operation and object in the warning logged before each new try; ``first_wait`` defaults
    to :data:`OPERATION_FIRST_WAIT`."""
    first_wait = OPERATION_FIRST_WAIT if first_wait is None else first_wait
    runner = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(StorageError),
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_exponential_jitter(
            multiplier=first_wait, max=OPERATION_WAIT_MAX, jitter=first_wait
        ),
        before_sleep=lambda state: log.warning(
            "%s failed (try %d of %d), trying again: %s",
            what,
            state.attempt_number,
            attempts,
            state.outcome.exception() if state.outcome else "?",
        ),
        reraise=True,
    )
    return runner(call)
