"""Classification of storage failures and the per-operation retry (no S3 needed).

The messages are what pyarrow 26 raised through the fault proxy (tests/faultproxy.py)."""

from __future__ import annotations

import pyarrow.fs as pafs
import pytest

from pgcdc.schemas.errors import StorageDeniedError, StorageError, TerminalError, TransientError
from pgcdc.storage.retries import is_denied, retrying, s3_retry_strategy, storage_error
from tests.faultproxy import s3_operation

pytestmark = pytest.mark.unit

URL = "s3://bucket/processed/batches/0000/000001.batch.json"

TRANSIENT = [
    "When getting information for key 'k26' in bucket 'b': AWS Error UNKNOWN (HTTP status 503)"
    " during HeadObject operation: No response body.",
    "When uploading object with key 'k3' in bucket 'b': AWS Error SLOW_DOWN during PutObject "
    "operation: Please reduce your request rate. (Request ID: FB63A3DF4AC342FC)",
    "When listing objects under key '' in bucket 'b': AWS Error INTERNAL_FAILURE during "
    "ListObjectsV2 operation: We encountered an internal error. Please try again.",
    "AWS Error SERVICE_UNAVAILABLE during GetObject operation: ",
    "When uploading object with key 'k3' in bucket 'b': AWS Error NETWORK_CONNECTION during "
    "PutObject operation: curlCode: 56, Failure when receiving data from the peer; Details: "
    "Recv failure: Connection reset by peer",
    "AWS Error INTERNAL_FAILURE during GetObject operation: Failed to flush response stream "
    "(eof: 0, bad: 1)",
    "When completing multiple part upload for key 'x' in bucket 'b': AWS Error NO_SUCH_UPLOAD "
    "during CompleteMultipartUpload operation: The specified upload does not exist.",
]
DENIED = [
    "When getting information for key 'k' in bucket 'b': AWS Error ACCESS_DENIED during "
    "HeadObject operation: No response body.",
    "When reading information for key 'k' in bucket 'b': AWS Error UNKNOWN (HTTP status 403) "
    "during HeadObject operation: No response body.",
    "When uploading object with key 'k' in bucket 'b': AWS Error INVALID_ACCESS_KEY_ID during "
    "PutObject operation: The AWS Access Key Id you provided does not exist in our records.",
    "When listing objects under key '' in bucket 'b': AWS Error SIGNATURE_DOES_NOT_MATCH during "
    "ListObjectsV2 operation: The request signature we calculated does not match.",
]


@pytest.mark.parametrize("text", TRANSIENT)
def test_throttling_5xx_and_network_failures_are_transient(text: str) -> None:
    error = storage_error(OSError(text), "read", URL)
    assert type(error) is StorageError and isinstance(error, TransientError)
    assert not is_denied(OSError(text))


@pytest.mark.parametrize("text", DENIED)
def test_refusals_are_terminal(text: str) -> None:
    error = storage_error(OSError(text), "write", URL)
    assert isinstance(error, StorageDeniedError) and isinstance(error, TerminalError)
    assert not isinstance(error, TransientError)


def test_the_error_is_one_line_naming_operation_and_object() -> None:
    error = storage_error(OSError(TRANSIENT[0] + "\n  more\n"), "look up", URL)
    assert str(error).startswith(f"cannot look up {URL}: When getting information")
    assert "\n" not in str(error) and "HTTP status 503" in str(error)
    assert str(storage_error(OSError(), "read", URL)) == f"cannot read {URL}: OSError"


def test_retrying_repeats_transient_failures_then_gives_up() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise StorageError("cannot read x: 503")
        return "done"

    assert retrying(flaky, "read x", attempts=4, first_wait=0) == "done"
    assert len(calls) == 3

    calls.clear()

    def broken() -> str:
        calls.append(1)
        raise StorageError("cannot read x: 503")

    with pytest.raises(StorageError):
        retrying(broken, "read x", attempts=4, first_wait=0)
    assert len(calls) == 4


@pytest.mark.parametrize(
    "error", [StorageDeniedError("cannot read x: 403"), FileNotFoundError("x"), ValueError("x")]
)
def test_retrying_does_not_repeat_what_cannot_succeed(error: Exception) -> None:
    calls: list[int] = []

    def refused() -> None:
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        retrying(refused, "read x", attempts=4, first_wait=0)
    assert len(calls) == 1


def test_requests_retry_without_a_quota() -> None:
    """The standard strategy's retry quota stops retrying under sustained 5xx (see
    storage.retries); the default strategy has none."""
    assert isinstance(s3_retry_strategy(), pafs.AwsDefaultS3RetryStrategy)


@pytest.mark.parametrize(
    ("method", "target", "operation"),
    [
        ("HEAD", "/b/k/x.json", "HeadObject"),
        ("GET", "/b/k/x.json", "GetObject"),
        ("GET", "/b?list-type=2&prefix=k%2F", "ListObjectsV2"),
        ("PUT", "/b/k/x.json", "PutObject"),
        ("DELETE", "/b/k/x.json", "DeleteObject"),
        ("POST", "/b/k/x.json?uploads", "CreateMultipartUpload"),
        ("PUT", "/b/k/x.json?partNumber=1&uploadId=u", "UploadPart"),
        ("POST", "/b/k/x.json?uploadId=u", "CompleteMultipartUpload"),
        ("DELETE", "/b/k/x.json?uploadId=u", "AbortMultipartUpload"),
        ("GET", "/b?uploads&prefix=k", "ListMultipartUploads"),
    ],
)
def test_the_proxy_names_s3_operations(method: str, target: str, operation: str) -> None:
    assert s3_operation(method, target) == operation
