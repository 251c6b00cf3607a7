"""Incomplete S3 multipart uploads: found with ListMultipartUploads, ended with
AbortMultipartUpload.

An incomplete upload is invisible to listings and reads, yet its parts are stored (and billed)
until someone aborts it. pyarrow writes an object larger than one part (5 MiB or more) as a
multipart upload and leaves it incomplete when a part or the completion fails: its output
stream, closed on an error, tries to complete instead of aborting, and pyarrow offers no
abort. pyarrow has no multipart-upload API either, hence boto3 here (imported when used).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pgcdc.storage.retries import OPERATION_ATTEMPTS, REQUEST_ATTEMPTS, retrying, storage_error

if TYPE_CHECKING:
    import botocore.exceptions
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import MultipartUploadTypeDef

log = logging.getLogger("pgcdc.storage")

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3's smallest part: an object below it is never written as a multipart upload."""


class Uploads:
    """The multipart uploads below one bucket prefix (the store's root)."""

    def __init__(
        self, bucket: str, prefix: str, *, endpoint_url: str | None, region: str | None
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._endpoint_url = endpoint_url
        self._region = region
        self._client: S3Client | None = None

    def _s3(self) -> S3Client:
        # imported here: the Lambda runtime provides boto3 (it is not in the layer), and a
        # store that never aborts an upload needs none of it
        import boto3
        import botocore.config

        if self._client is None:
            config = botocore.config.Config(
                retries={"mode": "standard", "max_attempts": REQUEST_ATTEMPTS}
            )
            self._client = boto3.client(
                "s3", endpoint_url=self._endpoint_url, region_name=self._region, config=config
            )
        return self._client

    def object_key(self, key: str) -> str:
        """The S3 object key of a store key."""
        key = key.strip("/")
        return f"{self.prefix}/{key}" if self.prefix and key else (self.prefix or key)

    def abort(self, key: str, *, exact: bool = True, attempts: int = OPERATION_ATTEMPTS) -> int:
        """Abort the incomplete uploads of ``key`` (``exact``) or below it; how many.

        Idempotent: an upload already gone is not an error. Raises a storage error naming the
        key when the store cannot be listed or an upload cannot be aborted.
        """
        name = self.object_key(key)
        url = f"s3://{self.bucket}/{name}"
        return retrying(
            lambda: self._abort_once(name, url, exact), f"abort uploads of {url}", attempts=attempts
        )

    def abort_quietly(self, key: str) -> None:
        """:meth:`abort` tried once (its requests still retried), logging instead of raising:
        used while the write's own error propagates; the write's next try cleans up again."""
        try:
            self.abort(key, attempts=1)
        except Exception as exc:  # the write's own error is the one to raise
            log.warning("cannot abort the incomplete uploads of %s: %s", key, exc)

    def _abort_once(self, name: str, url: str, exact: bool) -> int:
        import botocore.exceptions

        try:
            aborted = 0
            for upload in self._listed(name):
                if exact and upload["Key"] != name:
                    continue
                try:
                    self._s3().abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                except botocore.exceptions.ClientError as exc:
                    if _code(exc) != "NoSuchUpload":
                        raise
                aborted += 1
                log.info("aborted an incomplete upload of s3://%s/%s", self.bucket, upload["Key"])
            return aborted
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise storage_error(OSError(str(exc)), "abort the uploads of", url) from exc

    def _listed(self, name: str) -> list[MultipartUploadTypeDef]:
        """Every incomplete upload whose key starts with ``name`` (all pages)."""
        pages = self._s3().get_paginator("list_multipart_uploads")
        found: list[MultipartUploadTypeDef] = []
        for page in pages.paginate(Bucket=self.bucket, Prefix=name):
            found += page.get("Uploads", [])
        return found


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
