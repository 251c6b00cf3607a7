"""The store on S3 behind a proxy that throttles, fails and resets: every operation still
succeeds, and no write leaves an incomplete multipart upload behind."""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable, Iterator

import boto3
import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from pgcdc.schemas.errors import StorageError
from pgcdc.storage import Store, open_store, retries
from pgcdc.storage.uploads import Uploads
from tests.conftest import S3Location
from tests.faultproxy import FAULT_KINDS, FaultPlan, FaultProxy, fault_proxy

pytestmark = pytest.mark.integration

BIG = 11 * 1024 * 1024  # above pyarrow's single-PUT limit (10 MiB): a multipart upload


@pytest.fixture
def proxy(s3_bucket: S3Location) -> Iterator[FaultProxy]:
    with fault_proxy(s3_bucket.endpoint_url) as running:
        yield running


def incomplete_uploads(s3: S3Location) -> list[str]:
    """Keys of the bucket's incomplete multipart uploads, asked of moto directly."""
    client = boto3.client("s3", endpoint_url=s3.endpoint_url)
    return [u["Key"] for u in client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])]


def big_object(seed: int) -> bytes:
    """Random bytes, larger than what pyarrow sends in one PUT."""
    return random.Random(seed).randbytes(BIG)


def test_every_operation_survives_a_third_of_requests_faulted(
    s3_bucket: S3Location, proxy: FaultProxy
) -> None:
    """Writes, reads, HEADs, listings and deletes at 30 % faults (each kind) all succeed."""
    store = open_store(s3_bucket.uri("lake"), endpoint_url=proxy.endpoint_url)
    proxy.set_plan(FaultPlan.uniform(0.3, seed=11))
    for i in range(30):
        store.write_bytes(f"t/{i:03d}.bin", f"object {i}".encode())
    store.write_parquet("p/one.parquet", pa.table({"id": list(range(100))}))
    for _ in range(10):
        assert store.list_keys("t") == [f"t/{i:03d}.bin" for i in range(30)]
        assert store.list_folders() == ["p", "t"]
    for i in range(30):
        assert store.exists(f"t/{i:03d}.bin")
        assert store.read_bytes(f"t/{i:03d}.bin") == f"object {i}".encode()
    assert not store.exists("t/none.bin")
    assert store.read_parquet("p/one.parquet").column("id").to_pylist() == list(range(100))
    assert store.read_schema("p/one.parquet").names == ["id"]
    for i in range(0, 30, 2):
        store.delete(f"t/{i:03d}.bin")
    proxy.set_plan(FaultPlan())
    assert store.list_keys("t") == [f"t/{i:03d}.bin" for i in range(1, 30, 2)]
    assert all(proxy.injected[k] > 0 for k in FAULT_KINDS), proxy.injected
    faulted = {op for op, _ in proxy.injected_by_operation}
    assert {"PutObject", "GetObject", "HeadObject", "ListObjectsV2", "DeleteObject"} <= faulted


def test_large_writes_under_faults_leave_no_upload_behind(
    s3_bucket: S3Location, proxy: FaultProxy
) -> None:
    """Multipart writes whose creation answers get lost (the SDK retries, and the first upload
    is left over, incomplete) and whose parts and completion fail or lose their answers: the
    objects are whole and no incomplete upload remains."""
    store = open_store(s3_bucket.uri("big"), endpoint_url=proxy.endpoint_url)
    data = {f"o{i}.bin": big_object(i) for i in range(3)}
    proxy.set_plan(FaultPlan({"lost": 1.0}, only=frozenset({"CreateMultipartUpload"}), limit=2))
    store.write_bytes("o0.bin", data["o0.bin"])
    assert proxy.injected_by_operation[("CreateMultipartUpload", "lost")] == 2
    multipart = frozenset({"UploadPart", "CompleteMultipartUpload"})
    proxy.set_plan(FaultPlan.uniform(0.4, seed=3, kinds=("slowdown", "internal", "lost")))
    proxy.set_plan(dataclasses.replace(proxy.plan, only=multipart))
    for key in ("o1.bin", "o2.bin"):
        store.write_bytes(key, data[key])
    proxy.set_plan(FaultPlan())
    assert sum(n for (op, _), n in proxy.injected_by_operation.items() if op in multipart) > 0
    for key, value in data.items():
        assert store.read_bytes(key) == value
    assert incomplete_uploads(s3_bucket) == []


def store_without_request_retries(s3: S3Location, proxy: FaultProxy, prefix: str) -> Store:
    """A store through the proxy whose S3 requests are not retried (operations still are)."""
    fs = pafs.S3FileSystem(
        endpoint_override=proxy.endpoint_url.removeprefix("http://"),
        scheme="http",
        allow_delayed_open=True,
        retry_strategy=pafs.AwsDefaultS3RetryStrategy(max_attempts=0),
    )
    uploads = Uploads(s3.bucket, prefix, endpoint_url=s3.endpoint_url, region=None)
    return Store(fs, f"{s3.bucket}/{prefix}", f"s3://{s3.bucket}/{prefix}", uploads)


def test_failing_operations_raise_storage_errors_naming_the_object(
    s3_bucket: S3Location, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 answering every request 500: each operation is tried OPERATION_ATTEMPTS times, then
    raises a StorageError (transient) that names what it did and the object's URL."""
    monkeypatch.setattr(retries, "OPERATION_FIRST_WAIT", 0.0)
    store = store_without_request_retries(s3_bucket, proxy, "down")
    store.write_bytes("k.parquet", b"PAR1")
    url = f"s3://{s3_bucket.bucket}/down/k.parquet"
    calls: dict[str, Callable[[], object]] = {
        "write": lambda: store.write_bytes("k.parquet", b"x"),
        "read": lambda: store.read_bytes("k.parquet"),
        "look up": lambda: store.exists("k.parquet"),
        "list": lambda: store.list_keys("k.parquet"),
        "delete": lambda: store.delete("k.parquet"),
        "read the schema of": lambda: store.read_schema("k.parquet"),
    }
    proxy.set_plan(FaultPlan({"internal": 1.0}))
    for doing, call in calls.items():
        before = proxy.injected["internal"]
        expected = f"^cannot {re.escape(doing)} {re.escape(url)}: .*(500|INTERNAL)"
        with pytest.raises(StorageError, match=expected):
            call()
        assert proxy.injected["internal"] - before >= retries.OPERATION_ATTEMPTS, doing
    proxy.set_plan(FaultPlan())
    assert store.read_bytes("k.parquet") == b"PAR1"


def test_a_failed_multipart_write_aborts_its_upload(
    s3_bucket: S3Location, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every part refused (and no request retries, to make it quick): the write fails with a
    StorageError naming the object, and its incomplete uploads are aborted."""
    monkeypatch.setattr(retries, "OPERATION_FIRST_WAIT", 0.0)
    bucket_prefix = f"{s3_bucket.bucket}/failing"
    store = store_without_request_retries(s3_bucket, proxy, "failing")
    proxy.set_plan(FaultPlan({"internal": 1.0}, only=frozenset({"UploadPart"})))
    with pytest.raises(StorageError, match=f"cannot write s3://{bucket_prefix}/x.bin: "):
        store.write_bytes("x.bin", big_object(5))
    assert proxy.injected_by_operation[("UploadPart", "internal")] >= 2
    proxy.set_plan(FaultPlan())
    assert incomplete_uploads(s3_bucket) == []
    assert not store.exists("x.bin")


def test_sweep_aborts_what_a_killed_writer_left(s3_bucket: S3Location) -> None:
    """Uploads started and never finished (as by a writer killed mid-upload) below the store's
    prefix are aborted by the sweep; one outside the prefix is left alone."""
    client = boto3.client("s3", endpoint_url=s3_bucket.endpoint_url)
    for key in ("raw/a/1.parquet", "raw/b/2.parquet", "other/3.parquet"):
        upload = client.create_multipart_upload(Bucket=s3_bucket.bucket, Key=key)
        client.upload_part(
            Bucket=s3_bucket.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x"
        )
    store = open_store(s3_bucket.uri("raw"), endpoint_url=s3_bucket.endpoint_url)
    assert store.abort_incomplete_uploads() == 2
    assert incomplete_uploads(s3_bucket) == ["other/3.parquet"]
    assert store.abort_incomplete_uploads() == 0
