"""The lake layer: the raw and processed stores read and written as their contracts say.

The key builders and parsers and the record models are pure (:mod:`pgcdc.schemas.layout`,
:mod:`pgcdc.schemas.processed`); this package is the only code that lists a store, parses what the
listing finds, walks back to the newest record and reads a record (checking its version).
Capture, the transformer, the loader and the read side (status, query) go through it:

- :mod:`pgcdc.storage.lake.records`: one versioned read, one write and one newest-record walk;
- :mod:`pgcdc.storage.lake.raw`: tables and their objects, capture positions and intents,
  snapshot manifests;
- :mod:`pgcdc.storage.lake.processed`: batch manifests and the transform check.
"""

from __future__ import annotations
