"""Local and S3 object storage behind one small interface."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from schemas.errors import ConfigurationError, StorageError


class Store:
    """A folder of objects addressed by ``/``-separated relative keys.

    Writes are atomic: a reader sees an object whole or not at all (S3 PUT is atomic; a
    local write goes to a hidden temporary file that is fsynced and renamed into place).
    Hidden names (``.x``, ``_x`` below a partition) are what pyarrow and DuckDB skip when
    scanning, so a temporary file is never read as data.
    """

    def __init__(self, fs: pafs.FileSystem, root: str, uri: str) -> None:
        self._fs = fs
        self._root = root.rstrip("/")
        self.uri = uri.rstrip("/")
        self.is_local = isinstance(fs, pafs.LocalFileSystem)

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

    def write_bytes(self, key: str, data: bytes | pa.Buffer) -> None:
        """Write one object atomically. Idempotent: the same key and data give the same object."""
        target = self.path(key)
        try:
            if self.is_local:
                _atomic_local_write(Path(target), data)
            else:
                with self._fs.open_output_stream(target) as out:
                    out.write(data)
        except OSError as exc:
            raise StorageError(f"cannot write {self.url(key)}: {exc}") from exc

    def read_bytes(self, key: str) -> bytes:
        """Read one whole object."""
        try:
            with self._fs.open_input_stream(self.path(key)) as src:
                data: bytes = src.read()
                return data
        except FileNotFoundError:
            raise
        except OSError as exc:
            if _is_not_found(exc):
                raise FileNotFoundError(self.url(key)) from exc
            raise StorageError(f"cannot read {self.url(key)}: {exc}") from exc

    def exists(self, key: str) -> bool:
        """Whether an object (or a folder with objects) exists under the key."""
        info = self._fs.get_file_info(self.path(key))
        return bool(info.type != pafs.FileType.NotFound)

    def list_keys(self, prefix: str = "", *, recursive: bool = True) -> list[str]:
        """Keys of the objects below a prefix, sorted; hidden temporary files left out.

        On S3 every page of the listing is read (pyarrow follows continuation tokens), so a
        prefix with more than 1,000 objects is listed whole.
        """
        base = self.path(prefix)
        selector = pafs.FileSelector(base, recursive=recursive, allow_not_found=True)
        try:
            infos = self._fs.get_file_info(selector)
        except OSError as exc:
            raise StorageError(f"cannot list {self.url(prefix)}: {exc}") from exc
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
        try:
            infos = self._fs.get_file_info(selector)
        except OSError as exc:
            raise StorageError(f"cannot list {self.url(prefix)}: {exc}") from exc
        cut = len(self._root) + 1
        return sorted(i.path[cut:] for i in infos if i.type == pafs.FileType.Directory)

    def delete(self, key: str) -> None:
        """Delete one object if it exists (used for temporary state only; data is immutable)."""
        try:
            self._fs.delete_file(self.path(key))
        except FileNotFoundError:
            return
        except OSError as exc:
            if not _is_not_found(exc):
                raise StorageError(f"cannot delete {self.url(key)}: {exc}") from exc

    def write_parquet(self, key: str, table: pa.Table, **options: Any) -> int:
        """Write an Arrow table as one Parquet object (zstd); returns its size in bytes."""
        sink = pa.BufferOutputStream()
        options.setdefault("compression", "zstd")
        pq.write_table(table, sink, **options)
        data = sink.getvalue()
        self.write_bytes(key, data)
        return int(data.size)

    def read_parquet(self, key: str) -> pa.Table:
        """Read one Parquet object."""
        try:
            return pq.read_table(self.path(key), filesystem=self._fs)
        except OSError as exc:
            raise StorageError(f"cannot read {self.url(key)}: {exc}") from exc

    def iter_parquet(self, keys: list[str]) -> Iterator[pa.Table]:
        """Read several Parquet objects one after the other (memory: one object at a time)."""
        for key in keys:
            yield self.read_parquet(key)


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


def open_store(uri: str, *, endpoint_url: str | None = None, region: str | None = None) -> Store:
    """Open a store from a local path, ``file://`` URI or ``s3://bucket/prefix`` URI.

    ``endpoint_url`` points S3 at a compatible server (``http://127.0.0.1:5000``);
    credentials come from the usual AWS environment and credential chain.
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
        fs = pafs.S3FileSystem(**options)
        return Store(fs, rest, f"s3://{rest}")
    path = uri[len("file://") :] if uri.startswith("file://") else uri
    root = Path(path).expanduser().resolve()
    return Store(pafs.LocalFileSystem(), root.as_posix(), root.as_posix())
