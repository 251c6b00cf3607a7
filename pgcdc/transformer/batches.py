"""The transformer's state: batch manifests and the transform check in the processed store.

Read and written through the lake layer (:mod:`pgcdc.storage.lake.processed`), which owns the
manifests' keys, the newest-manifest walk and the version check.
"""

from __future__ import annotations

from pgcdc.storage.lake.processed import (
    latest_batch,
    latest_check,
    read_batch,
    save_batch,
    save_check,
)

__all__ = ["latest_batch", "latest_check", "read_batch", "save_batch", "save_check"]
