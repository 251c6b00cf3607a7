"""The processed-store contract: batch manifests and where every object lives.

A transform run writes new Parquet objects only, then one manifest, the batch, last:

- ``<target>/date=YYYY-MM-DD/<run>-<bound>.parquet``: a star-schema target's rows of the run;
- ``mirror/<schema>.<table>/date=YYYY-MM-DD/<run>-<bound>[.base].parquet``: a captured
  table's changed current rows (a delta; ``_deleted`` marks a removed key) or its whole
  current state (a base). A base and the deltas after it are also the table's state, what
  the next run folds new changes into;
- ``_state/transform/<run // 10000>/<run>.batch.json``: the manifest (version 1): the raw
  position reached per table, the state objects, the outputs, and the newest source commit
  time the batches up to this one hold (``newest_commit``: what the loader records for the
  warehouse's freshness; absent from manifests written before it existed). It is the commit
  point: objects it does not list are leftovers of a crashed run and are never read.
  A run that finds no new change writes no batch, only ``_state/transform/checked.json``
  (the bound it read up to and when, for ``pgcdc status``).

A captured table without a key (no primary key, ``REPLICA IDENTITY FULL``: the source key
covers every column) is a *multiset*: identical rows may exist, and NULLs anywhere. Its state
and mirror objects hold one row per distinct row with ``_count`` (copies now); a delta also
has ``_previous`` (copies before the run), so a loader removes only rows that existed. The
whole row is the key: compared NULL-safe (``IS NOT DISTINCT FROM``).

``<run>`` is 10 digits, ``<bound>`` the capture position the run read up to (16 hex digits),
so a retried run with the same input rewrites the same objects with the same content.
"""

from __future__ import annotations

import datetime as dt
import enum
from itertools import chain, repeat

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from schemas.tables import TableName

BATCH_VERSION = 1
COUNT = "_count"
"""Multiset state and mirror objects: how many copies of the row the table holds."""
PREVIOUS = "_previous"
"""Multiset deltas: how many copies the table held before the run."""
BATCH_PREFIX = "_state/transform"


class Kind(enum.StrEnum):
    """What a warehouse table is: one closed set shared by the model headers
    (:mod:`transformer.model`), the batch manifests and the loader."""

    MIRROR = "mirror"  # a captured table's current rows (schema ``mirror_<schema>``)
    DIMENSION = "dimension"  # a model target over its sources' current state
    FACT = "fact"  # a model target over its one source's new versions (append-only)
    DERIVED = "derived"  # a model target over other targets of the same run
    QUARANTINE = "quarantine"  # the source versions the row checks refused (append-only)


MODEL_KINDS = (Kind.FACT, Kind.DIMENSION, Kind.DERIVED)
"""The kinds a model file may declare, in the order a run computes them."""
APPENDED_KINDS = (Kind.FACT, Kind.QUARANTINE)
"""Kinds whose rows are only ever appended (each row one source version), never upserted."""


class Output(BaseModel):
    """Rows of one warehouse table produced by a batch."""

    model_config = ConfigDict(frozen=True)

    target: str
    kind: Kind
    key: tuple[str, ...]
    objects: tuple[str, ...]
    entity: str | None = None
    replace: bool = False
    """Mirror only: the objects hold the whole table (after a truncate or a snapshot)."""
    multiset: bool = False
    """Mirror only: a table without a key; rows carry ``_count`` (and ``_previous``)."""


class TableProgress(BaseModel):
    """How far the transformer got in one captured table, and where its state lives."""

    model_config = ConfigDict(frozen=True)

    position: int = 0
    key: tuple[str, ...]
    state: tuple[str, ...] = ()
    multiset: bool = False
    """The table has no key: its state counts identical rows (``_count``)."""


class Batch(BaseModel):
    """One transform run: the transformer's state and the loader's unit of work."""

    model_config = ConfigDict(frozen=True)

    version: int = BATCH_VERSION
    run: int
    bound: int
    created_at: dt.datetime
    changes: int = 0
    tables: dict[str, TableProgress] = Field(default_factory=dict)
    outputs: tuple[Output, ...] = ()
    newest_commit: dt.datetime | None = None
    """The newest ``_commit_ts`` among the changes read up to ``bound``, this run's or an
    earlier one's (it never goes backwards); None when none is known (an older manifest)."""


class TransformCheck(BaseModel):
    """The newest transform run that found no new change: the bound it read up to, when.

    Advisory, for ``pgcdc status`` only: the transformer never starts from it (the next
    batch starts at the table positions of the newest manifest), so losing or rewriting it
    changes no data. Overwritten by each such run.
    """

    model_config = ConfigDict(frozen=True)

    run: int
    """The newest batch when the check ran (0 before the first)."""
    bound: int
    checked_at: dt.datetime


CHECK_KEY = f"{BATCH_PREFIX}/checked.json"
"""Where :class:`TransformCheck` lives (beside the manifests' folders, never inside one)."""


def batch_key(run: int) -> str:
    """Key of a run's manifest (folders of 10,000 runs keep the newest cheap to find)."""
    return f"{BATCH_PREFIX}/{run // 10000:06d}/{run:010d}.batch.json"


def _name(run: int, bound: int) -> str:
    return f"{run:010d}-{bound:016X}"


def target_key(target: str, run: int, bound: int, day: dt.date) -> str:
    """Key of a star-schema target's rows from one run."""
    return f"{target}/date={day:%Y-%m-%d}/{_name(run, bound)}.parquet"


def mirror_key(table: TableName, run: int, bound: int, day: dt.date, *, base: bool) -> str:
    """Key of a captured table's changed current rows (a delta) or whole state (a base)."""
    suffix = ".base" if base else ""
    return f"mirror/{table.qualified}/date={day:%Y-%m-%d}/{_name(run, bound)}{suffix}.parquet"


def mirror_table(table: TableName) -> TableName:
    """The warehouse table mirroring a captured table: schema ``mirror_<schema>``."""
    return TableName(f"mirror_{table.schema}", table.name)


def expand_counts(rows: pa.Table) -> pa.Table:
    """A multiset object's rows as the table holds them: each row ``_count`` times, without
    the bookkeeping columns (``_count``, ``_previous``, ``_deleted``). A NULL ``_count``
    (a state object written before multisets existed, which kept one row per row) is one."""
    # plain Python, not numpy: the Lambda layer carries no numpy (pyarrow does not need it)
    counts = rows.column(COUNT).fill_null(1).to_pylist()
    indices = list(chain.from_iterable(repeat(i, c) for i, c in enumerate(counts) if c > 0))
    kept = [c for c in rows.column_names if c not in (COUNT, PREVIOUS, "_deleted")]
    return rows.select(kept).take(pa.array(indices, pa.int64()))
