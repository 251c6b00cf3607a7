"""The processed-store contract: batch manifests and where every object lives.

A transform run writes new Parquet objects only, then one manifest, the batch, last:

- ``<target>/date=YYYY-MM-DD/<run>-<bound>.parquet``: a star-schema target's rows of the run;
- ``mirror/<schema>.<table>/date=YYYY-MM-DD/<run>-<bound>[.base].parquet`` (the folder
  escaped as the raw store's, :func:`pgcdc.schemas.layout.table_prefix`): a captured table's
  changed current rows (a delta; ``_deleted`` marks a removed key) or its whole current
  state (a base). A base and the deltas after it are also the table's state, what
  the next run folds new changes into;
- ``_state/transform/<run // 10000>/<run>.batch.json``: the manifest (version 1): the raw
  position reached per table (LSNs as ``X/Y`` text; manifests written before hold numbers,
  read the same), the state objects, the outputs, and the newest source commit
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
import re
from dataclasses import dataclass
from itertools import chain, repeat
from typing import ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pgcdc.schemas.errors import TerminalError
from pgcdc.schemas.layout import parse_table_folder, table_prefix
from pgcdc.schemas.lsn import ZERO, Lsn
from pgcdc.schemas.records import Record
from pgcdc.schemas.tables import TableName

BATCH_VERSION = 1
COUNT = "_count"
"""Multiset state and mirror objects: how many copies of the row the table holds."""
PREVIOUS = "_previous"
"""Multiset deltas: how many copies the table held before the run."""
BATCH_PREFIX = "_state/transform"


class Kind(enum.StrEnum):
    """What a warehouse table is: one closed set shared by the model headers
    (:mod:`pgcdc.transformer.model`), the batch manifests and the loader."""

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


def output_text(output: Output) -> str:
    """An output as the JSON text the loader's quarantine keeps (:func:`parse_output`)."""
    return output.model_dump_json()


def parse_output(text: str, where: str) -> Output:
    """The output ``text`` (:func:`output_text`) holds; one terminal error naming ``where``
    (the quarantine row) when it is not one."""
    try:
        return Output.model_validate_json(text)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"]) or "(document)"
        raise TerminalError(f"quarantined output {where}: {field}: {problem['msg']}") from None


class TableProgress(BaseModel):
    """How far the transformer got in one captured table, and where its state lives."""

    model_config = ConfigDict(frozen=True)

    position: Lsn = ZERO
    key: tuple[str, ...]
    state: tuple[str, ...] = ()
    multiset: bool = False
    """The table has no key: its state counts identical rows (``_count``)."""


class Batch(Record):
    """One transform run: the transformer's state and the loader's unit of work."""

    VERSION: ClassVar[int] = BATCH_VERSION
    KIND: ClassVar[str] = "batch manifest"

    version: int = BATCH_VERSION
    run: int
    bound: Lsn
    created_at: dt.datetime
    changes: int = 0
    tables: dict[str, TableProgress] = Field(default_factory=dict)
    outputs: tuple[Output, ...] = ()
    newest_commit: dt.datetime | None = None
    """The newest ``_commit_ts`` among the changes read up to ``bound``, this run's or an
    earlier one's (it never goes backwards); None when none is known (an older manifest)."""

    def progress_of(self, table: TableName) -> TableProgress | None:
        """The table's progress (None: the batch does not know the table). A manifest
        written before table entries were escaped names it ``schema.table`` unescaped."""
        found = self.tables.get(table_entry(table))
        return found if found is not None else self.tables.get(table.qualified)


class TransformCheck(Record):
    """The newest transform run that found no new change: the bound it read up to, when.

    Advisory, for ``pgcdc status`` only: the transformer never starts from it (the next
    batch starts at the table positions of the newest manifest), so losing or rewriting it
    changes no data. Overwritten by each such run.
    """

    UNVERSIONED: ClassVar[int | None] = 1
    KIND: ClassVar[str] = "transform check record"

    version: int = 1
    run: int
    """The newest batch when the check ran (0 before the first)."""
    bound: Lsn
    checked_at: dt.datetime


CHECK_KEY = f"{BATCH_PREFIX}/checked.json"
"""Where :class:`TransformCheck` lives (beside the manifests' folders, never inside one)."""


BATCH_SUFFIX = ".batch.json"


def batch_key(run: int) -> str:
    """Key of a run's manifest (folders of 10,000 runs keep the newest cheap to find)."""
    return f"{batch_folder(run)}/{run:010d}{BATCH_SUFFIX}"


def batch_folder(run: int) -> str:
    """The folder holding a run's manifest (one per 10,000 runs)."""
    return f"{BATCH_PREFIX}/{run // 10000:06d}"


_BATCH = re.compile(rf"{BATCH_PREFIX}/(\d{{6}})/(\d{{10}})\.batch\.json")
_BATCH_FOLDER = re.compile(rf"{BATCH_PREFIX}/(\d{{6}})")


def parse_batch_key(key: str) -> int | None:
    """The run of a manifest's key; None for any other key."""
    found = _BATCH.fullmatch(key)
    return (
        int(found.group(2))
        if found and int(found.group(2)) // 10000 == int(found.group(1))
        else None
    )


def parse_batch_folder(folder: str) -> int | None:
    """The first run a manifests' folder may hold; None for any other folder."""
    found = _BATCH_FOLDER.fullmatch(folder)
    return int(found.group(1)) * 10000 if found else None


def _name(run: int, bound: Lsn) -> str:
    return f"{run:010d}-{bound.hex16()}"


_NAME = r"(\d{10})-([0-9A-F]{16})"
_DAY = r"date=(\d{4}-\d{2}-\d{2})"


@dataclass(frozen=True, slots=True)
class ProcessedObject:
    """What a processed object's key says: whose rows, from which run and bound, which day."""

    target: str
    """The star-schema target, or for a mirror object the captured table's ``schema.table``."""
    run: int
    bound: Lsn
    day: dt.date
    mirror: TableName | None = None
    base: bool = False


def target_key(target: str, run: int, bound: Lsn, day: dt.date) -> str:
    """Key of a star-schema target's rows from one run."""
    return f"{target}/date={day:%Y-%m-%d}/{_name(run, Lsn.coerce(bound))}.parquet"


def mirror_key(table: TableName, run: int, bound: Lsn, day: dt.date, *, base: bool) -> str:
    """Key of a captured table's changed current rows (a delta) or whole state (a base); the
    table's folder is escaped as in the raw store (:func:`pgcdc.schemas.layout.table_prefix`)."""
    suffix = ".base" if base else ""
    name = _name(run, Lsn.coerce(bound))
    return f"mirror/{table_prefix(table)}/date={day:%Y-%m-%d}/{name}{suffix}.parquet"


_TARGET = re.compile(rf"([^/_.][^/]*)/{_DAY}/{_NAME}\.parquet")
_MIRROR = re.compile(rf"mirror/([^/]+)/{_DAY}/{_NAME}(\.base)?\.parquet")


def parse_processed_key(key: str) -> ProcessedObject | None:
    """What a target's or mirror's object key says; None for any other key."""
    if found := _MIRROR.fullmatch(key):
        table = parse_table_folder(found.group(1))
        if table is None:
            return None
        day, run, bound = _parts(found)
        base = found.group(5) is not None
        return ProcessedObject(table.qualified, run, bound, day, table, base)
    if found := _TARGET.fullmatch(key):
        day, run, bound = _parts(found)
        return ProcessedObject(found.group(1), run, bound, day)
    return None


def _parts(found: re.Match[str]) -> tuple[dt.date, int, Lsn]:
    return dt.date.fromisoformat(found.group(2)), int(found.group(3)), Lsn.parse(found.group(4))


def table_entry(table: TableName) -> str:
    """How a manifest names a captured table (a key of :attr:`Batch.tables`, a mirror
    output's ``target``): its raw-store folder name, so that no two tables share one."""
    return table_prefix(table)


def parse_table_entry(entry: str) -> TableName:
    """The table a manifest's entry names (an old unescaped one splits at its first dot)."""
    table = parse_table_folder(entry)
    if table is None:
        raise ValueError(f"not a table entry of a batch manifest: {entry!r}")
    return table


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
