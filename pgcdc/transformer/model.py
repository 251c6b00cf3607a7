"""The warehouse model: one ``.sql`` file per target, with a header that declares it.

A header is the leading ``-- name: value`` comment lines of a file::

    -- target: dim_staff            (the warehouse table; defaults to the file name)
    -- kind: dimension             (dimension | fact | derived)
    -- grain: one row per staff member
    -- key: staff_id               (the first word is the key column; more, comma-separated)
    -- sources: public.staff, public.department
    -- incremental: source_lsn     (what a run recomputes: facts name the column first)
    -- entity: sales_order_id      (facts: the source row the versions belong to)
    -- required: a, b              (facts: columns a version must have)
    -- text_dates: agreed_delivery_date  (facts: text columns that must parse as dates)

The names are a closed set (:data:`HEADER_KEYS`): a header line naming another key, or one
key twice, is refused with one error naming the file, the line and the key, so a misspelt
``-- requried:`` cannot silently switch the row checks off. Other leading comment lines
(no ``name:`` at their start) are free text.

Dimensions read the *current state* of their sources (bound under the table's bare name);
facts read the new *versions* of their one source (the source columns plus ``_lsn``,
``_seq``, ``_commit_ts`` and ``_deleted``); derived targets read this run's output of the
targets they name. Adding a model is adding a file (see README, "Transform and load").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pgcdc.schemas.errors import ConfigurationError
from pgcdc.schemas.processed import MODEL_KINDS, Kind
from pgcdc.schemas.tables import TableName

HEADER_KEYS = frozenset(
    {
        "target",
        "kind",
        "grain",
        "key",
        "sources",
        "incremental",
        "entity",
        "required",
        "text_dates",
    }
)
"""Every key a model header may hold."""
# a word (any case, hyphens too: a misspelling of a key must still look like one) and a colon
_HEADER = re.compile(r"^--\s*([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class Target:
    """One warehouse table computed by one SQL file."""

    name: str
    kind: Kind
    key: tuple[str, ...]
    sources: tuple[str, ...]
    sql: str
    grain: str = ""
    incremental: str = ""
    """What a run recomputes, as the header says it (a fact's starts with its column)."""
    entity: str | None = None
    required: tuple[str, ...] = ()
    text_dates: tuple[str, ...] = ()

    def source_tables(self) -> tuple[TableName, ...]:
        """The captured tables a dimension or fact reads."""
        if self.kind == Kind.DERIVED:
            return ()
        return tuple(TableName.parse(s) for s in self.sources)

    @property
    def incremental_column(self) -> str | None:
        """A fact's incremental column (the first word of ``incremental``); None otherwise."""
        words = _words(self.incremental)
        return words[0].split()[0] if self.kind == Kind.FACT and words else None


def _words(value: str) -> tuple[str, ...]:
    value = value.split("(", 1)[0]
    return tuple(w.strip() for w in value.split(",") if w.strip())


def read_header(text: str, file: str) -> dict[str, str]:
    """The ``name: value`` pairs of a model file's leading comment lines.

    A name outside :data:`HEADER_KEYS`, or one given twice, raises ConfigurationError naming
    ``file``, the line number and the name.
    """
    header: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _HEADER.match(line)
        if not match:
            if line.startswith("--"):
                continue
            break
        name, value = match.groups()
        if name not in HEADER_KEYS:
            known = ", ".join(sorted(HEADER_KEYS))
            raise ConfigurationError(
                f"{file}:{number}: unknown model header key {name!r} (known: {known})"
            )
        if name in header:
            raise ConfigurationError(f"{file}:{number}: model header key {name!r} given twice")
        header[name] = value
    return header


def parse_target(text: str, default_name: str, *, file: str | None = None) -> Target:
    """A target from the text of its SQL file (``file``: where it came from, for errors;
    default ``<default_name>.sql``); a bad header raises ConfigurationError."""
    where = file or f"{default_name}.sql"
    header = read_header(text, where)
    name = header.get("target", default_name)
    kind_text = header.get("kind", "")
    if kind_text not in MODEL_KINDS:
        kinds = " | ".join(MODEL_KINDS)
        raise ConfigurationError(f"{where}: model {name}: kind must be {kinds}, not {kind_text!r}")
    kind = Kind(kind_text)
    key = _words(header.get("key", ""))
    if not key:
        raise ConfigurationError(f"{where}: model {name}: the header names no key")
    entity = _words(header.get("entity", ""))
    if kind == Kind.FACT and not entity:
        raise ConfigurationError(f"{where}: model {name}: a fact names its entity column")
    return Target(
        name=name,
        kind=kind,
        key=key,
        sources=_words(header.get("sources", "")),
        sql=text,
        grain=header.get("grain", ""),
        incremental=header.get("incremental", ""),
        entity=entity[0] if entity else None,
        required=_words(header.get("required", "")),
        text_dates=_words(header.get("text_dates", "")),
    )


def load_model(folder: Path | None = None) -> list[Target]:
    """The targets of a model folder (default: the star schema shipped with pgcdc), in
    run order: facts, then dimensions, then derived targets; by name within a kind."""
    if folder is None:
        shipped = resources.files("pgcdc.transformer").joinpath("sql")
        files = [
            (Path(f.name).stem, f.read_text(), f"pgcdc/transformer/sql/{f.name}")
            for f in shipped.iterdir()
            if f.name.endswith(".sql")
        ]
    else:
        files = [(p.stem, p.read_text(), str(p)) for p in sorted(folder.glob("*.sql"))]
        if not files:
            raise ConfigurationError(
                f"model folder {folder} holds no .sql file (PGCDC_MODEL_DIR; copy "
                "pgcdc/transformer/sql/ there to start from the shipped star schema)"
            )
    targets = [parse_target(text, name, file=file) for name, text, file in files]
    return sorted(targets, key=lambda t: (MODEL_KINDS.index(t.kind), t.name))
