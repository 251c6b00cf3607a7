"""One storage abstraction for local folders and ``s3://`` URIs.

Every stage reads and writes through :class:`Store`, so every code path runs the same
locally and on S3 (or an S3-compatible server such as the moto emulator). I/O goes through
pyarrow's filesystems; Arrow data is handed to DuckDB in memory.
"""

from __future__ import annotations

from pgcdc.storage.store import Store, open_store

__all__ = ["Store", "open_store"]
