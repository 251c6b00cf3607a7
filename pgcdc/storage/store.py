"""Local and S3 object storage behind one small interface."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pgcdc.schemas.errors import ConfigurationError
from pgcdc.storage.retries import retrying, s3_retry_strategy, storage_error
from pgcdc.storage.uploads import MIN_PART_SIZE, Uploads

T = TypeVar("T")


class Store:
    """A folder of objects addressed by ``/``-separated relative keys.

    Writes are atomic: a reader sees an object whole or not at all (S3 PUT is atomic; a
    local write goes to a hidden temporary file that is fsynced and renamed into place).
    Hidden names (``.x``, ``_x`` below a partition) are what pyarrow and DuckDB skip when
    scanning, so a temporary file is never read as data.

    On S3 every operation survives throttling, 5xx answers and reset connections (retried per
    request and per operation, see :mod:`pgcdc.storage.retries`); an ``OSError`` that still escapes
    is raised as a :class:`~pgcdc.schemas.errors.StorageError` (or, for a refusal such as access
    denied, or on a local path no permission or a folder that cannot be created, a terminal
    :class:`~pgcdc.schemas.errors.StorageDeniedError`) naming the object. A write leaves no
    incomplete multipart upload of its key behind (:mod:`pgcdc.storage.uploads`).
    """

    def __init__(
        self,
        fs: pafs.FileSystem,
        root: str,
        uri: str,
        uploads: Uploads | None = None,
        *,
        name: str | None = None,
    ) -> None:
        self._fs = fs
        self._root = root.rstrip("/")
        self.uri = uri.rstrip("/")
        self.is_local = isinstance(fs, pafs.LocalFileSystem)
        self._uploads = uploads
        self.name = name
        """What the store is for (``"raw store"``), named in error messages when given."""

    @property
    def filesystem(self) -> pafs.FileSystem:
        """The pyarrow filesystem (for datasets)."""
        return self._fs

    def path(self, key: str) -> str:
        """The filesystem path of a key (what pyarrow's APIs take)."""
        key = key.strip("/")
        return f"{self._root}/{key}" if key else self._root

    def url(self, key: str) -> str:
        """The full URI of a key, for messages and manifests."""
        key = key.strip("/")
        return f"{self.uri}/{key}" if key else self.uri

    def _attempt(self, doing: str, key: str, call: Callable[[], T], *, missing: bool = False) -> T:
        """``call`` with its ``OSError`` raised as a storage error naming the object (as a
        ``FileNotFoundError`` when ``missing`` and the object does not exist); on S3, tried
        again with backoff while the error is transient."""

        def once() -> T:
            try:
                return call()
            except OSError as exc:
                if missing and (isinstance(exc, FileNotFoundError) or _is_not_found(exc)):
                    raise FileNotFoundError(self.url(key)) from exc
                raise storage_error(
                    exc, doing, self.url(key), local=self.is_local, store=self.name
                ) from exc

        if self.is_local:
            return once()
        return retrying(once, f"{doing} {self.url(key)}")

    def write_bytes(self, key: str, data: bytes | pa.Buffer) -> None:
        """Write one object atomically. Idempotent: the same key and data give the same object."""
        target = self.path(key)
        if self.is_local:
            self._attempt("write", key, lambda: _atomic_local_write(Path(target), data))
        else:
            self._attempt("write", key, lambda: self._write_s3(key, data))

    def _write_s3(self, key: str, data: bytes | pa.Buffer) -> None:
        """One try of an S3 write. Small objects go in one PUT (the filesystem is opened with
        ``allow_delayed_open``); a large one is a multipart upload, and every incomplete
        upload of its key is aborted afterwards, whether the write failed (pyarrow's stream
        completes rather than aborts when closed on an error) or succeeded (a retried
        CreateMultipartUpload whose first answer was lost leaves a twin upload behind)."""
        uploads = self._uploads if len(data) >= MIN_PART_SIZE else None
        try:
            with self._fs.open_output_stream(self.path(key)) as out:
                out.write(data)
        except OSError:
            if uploads is not None:
                uploads.abort_quietly(key)
            raise
        if uploads is not None:
            uploads.abort(key)

    def read_bytes(self, key: str) -> bytes:
        """Read one whole object (``FileNotFoundError`` when there is none)."""

        def read() -> bytes:
            with self._fs.open_input_stream(self.path(key)) as src:
                data: bytes = src.read()
                return data

        return self._attempt("read", key, read, missing=True)

    def exists(self, key: str) -> bool:
        """Whether an object (or a folder with objects) exists under the key."""
        info = self._attempt("look up", key, lambda: self._fs.get_file_info(self.path(key)))
        return bool(info.type != pafs.FileType.NotFound)

    def list_keys(self, prefix: str = "", *, recursive: bool = True) -> list[str]:
        """Keys of the objects below a prefix, sorted; hidden temporary files left out.

        On S3 every page of the listing is read (pyarrow follows continuation tokens), so a
        prefix with more than 1,000 objects is listed whole.
        """
        base = self.path(prefix)
        selector = pafs.FileSelector(base, recursive=recursive, allow_not_found=True)
        infos = self._attempt("list", prefix, lambda: self._fs.get_file_info(selector))
        keys = []
        cut = len(self._root) + 1
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            key = info.path[cut:]
            if Path(key).name.startswith("."):
                continue
            keys.append(key)
        return sorted(keys)

    def list_folders(self, prefix: str = "") -> list[str]:
        """Keys of the folders directly below a prefix, sorted (one listing page per 1,000)."""
        selector = pafs.FileSelector(self.path(prefix), recursive=False, allow_not_found=True)
        infos = self._attempt("list", prefix, lambda: self._fs.get_file_info(selector))
        cut = len(self._root) + 1
        return sorted(i.path[cut:] for i in infos if i.type == pafs.FileType.Directory)

    def delete(self, key: str) -> None:
        """Delete one object if it exists (used for temporary state only; data is immutable).
        Idempotent."""
        try:
            self._attempt("delete", key, lambda: self._fs.delete_file(self.path(key)), missing=True)
        except FileNotFoundError:
            return

    def write_parquet(self, key: str, table: pa.Table, **options: Any) -> int:
        """Write an Arrow table as one Parquet object (zstd); returns its size in bytes."""
        sink = pa.BufferOutputStream()
        options.setdefault("compression", "zstd")
        pq.write_table(table, sink, **options)
        data = sink.getvalue()
        self.write_bytes(key, data)
        return int(data.size)

    def read_parquet(self, key: str, **options: Any) -> pa.Table:
        """Read one Parquet object (``options``: ``columns``, ``filters``… of
        ``pyarrow.parquet.read_table``)."""
        path = self.path(key)
        return self._attempt(
            "read", key, lambda: pq.read_table(path, filesystem=self._fs, **options)
        )

    def read_schema(self, key: str) -> pa.Schema:
        """The Arrow schema (with its metadata) of one Parquet object, from its footer."""
        path = self.path(key)
        schema: pa.Schema = self._attempt(
            "read the schema of", key, lambda: pq.read_schema(path, filesystem=self._fs)
        )
        return schema

    def abort_incomplete_uploads(self, prefix: str = "") -> int:
        """Abort every incomplete multipart upload below ``prefix``; how many there were.

        For a sweep after a crash (a killed writer cannot abort its own upload; on AWS the
        buckets' lifecycle rule does this after a day). Never run it while another process
        writes below the prefix: its upload in flight would be aborted too. Idempotent.
        """
        if self._uploads is None:
            return 0
        return self._uploads.abort(prefix, exact=False)


def _is_not_found(exc: OSError) -> bool:
    text = str(exc)
    return "NoSuchKey" in text or "Path does not exist" in text or "not found" in text.lower()


def _atomic_local_write(target: Path, data: bytes | pa.Buffer) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def open_store(
    uri: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    name: str | None = None,
) -> Store:
    """Open a store from a local path, ``file://`` URI or ``s3://bucket/prefix`` URI.

    ``endpoint_url`` points S3 at a compatible server (``http://127.0.0.1:5000``);
    credentials come from the usual AWS environment and credential chain. ``name`` says what
    the store is for (``"raw store"``) in error messages.
    """
    if uri.startswith("s3://"):
        rest = uri[len("s3://") :].strip("/")
        if not rest:
            raise ConfigurationError(f"S3 URI without a bucket: {uri!r}")
        options: dict[str, Any] = {}
        if endpoint_url:
            scheme, _, host = endpoint_url.partition("://")
            options["endpoint_override"] = host or scheme
            options["scheme"] = scheme if host else "https"
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            options["region"] = region
        # allow_delayed_open: an object smaller than a part is sent in one PUT, not as a
        # multipart upload of one part (three requests, and an upload to leave behind).
        fs = pafs.S3FileSystem(
            **options, allow_delayed_open=True, retry_strategy=s3_retry_strategy()
        )
        bucket, _, prefix = rest.partition("/")
        uploads = Uploads(bucket, prefix, endpoint_url=endpoint_url, region=region)
        return Store(fs, rest, f"s3://{rest}", uploads, name=name)
    path = uri[len("file://") :] if uri.startswith("file://") else uri
    root = Path(path).expanduser().resolve()
    return Store(pafs.LocalFileSystem(), root.as_posix(), root.as_posix(), name=name)
