"""The storage abstraction behaves the same on a local folder and on S3 over HTTP."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from pgcdc.storage import Store, open_store
from tests.conftest import S3Location


# kinds from tests/conftest.py: the local cases are unit tests, the S3 ones need the server
@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return open_store(str(tmp_path / "lake"))
    s3: S3Location = request.getfixturevalue("s3_bucket")
    return open_store(s3.uri("raw"), endpoint_url=s3.endpoint_url)


def test_write_read_list(store: Store) -> None:
    assert store.list_keys() == []
    assert not store.exists("a/b.bin")
    store.write_bytes("a/b.bin", b"\x00hello")
    store.write_bytes("a/c/d.bin", b"x")
    store.write_bytes("z.json", b"{}")
    assert store.read_bytes("a/b.bin") == b"\x00hello"
    assert store.exists("a/b.bin")
    assert store.list_keys() == ["a/b.bin", "a/c/d.bin", "z.json"]
    assert store.list_keys("a") == ["a/b.bin", "a/c/d.bin"]
    assert store.list_keys("a", recursive=False) == ["a/b.bin"]
    store.write_bytes("a/b.bin", b"again")
    assert store.read_bytes("a/b.bin") == b"again"
    with pytest.raises(FileNotFoundError):
        store.read_bytes("missing.bin")
    store.delete("z.json")
    store.delete("z.json")
    assert store.list_keys() == ["a/b.bin", "a/c/d.bin"]


def test_parquet_round_trip(store: Store) -> None:
    table = pa.table({"id": [1, 2, 3], "name": ["a", None, "ü🙂"]})
    size = store.write_parquet("t/date=2026-01-01/part.parquet", table)
    assert size > 0
    assert store.read_parquet("t/date=2026-01-01/part.parquet").equals(table)


def test_listing_is_complete_past_one_page(store: Store) -> None:
    """S3 lists 1,000 keys a page: the store must follow every page."""
    for i in range(1105):
        store.write_bytes(f"many/{i:05d}", b"")
    keys = store.list_keys("many")
    assert len(keys) == 1105
    assert keys[0] == "many/00000" and keys[-1] == "many/01104"
