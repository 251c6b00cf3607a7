"""The warehouse model: one ``.sql`` file per target, with a header that declares it.

A header is the leading ``-- name: value`` comment lines of a file::

    -- target: dim_staff            (the warehouse table; defaults to the file name)
    -- kind: dimension             (dimension | fact | derived)
    -- grain: one row per staff member
    -- key: staff_id               (the first word is the key column; more, comma-separated)
    -- sources: public.staff, public.department
    -- entity: sales_order_id      (facts: the source row the versions belong to)
    -- required: a, b              (facts: columns a version must have)
    -- text_dates: agreed_delivery_date  (facts: text columns that must parse as dates)

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

from schemas.errors import ConfigurationError
from schemas.tables import TableName

KINDS = ("dimension", "fact", "derived")
_HEADER = re.compile(r"^--\s*([a-z_]+):\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class Target:
    """One warehouse table computed by one SQL file."""

    name: str
    kind: str
    key: tuple[str, ...]
    sources: tuple[str, ...]
    sql: str
    grain: str = ""
    entity: str | None = None
    required: tuple[str, ...] = ()
    text_dates: tuple[str, ...] = ()

    def source_tables(self) -> tuple[TableName, ...]:
        """The captured tables a dimension or fact reads."""
        return tuple(TableName.parse(s) for s in self.sources) if self.kind != "derived" else ()


def _words(value: str) -> tuple[str, ...]:
    value = value.split("(", 1)[0]
    return tuple(w.strip() for w in value.split(",") if w.strip())


def parse_target(text: str, default_name: str) -> Target:
    """A target from the text of its SQL file; a bad header raises ConfigurationError."""
    header: dict[str, str] = {}
    for line in text.splitlines():
        match = _HEADER.match(line)
        if not match:
            if line.startswith("--"):
                continue
            break
        header.setdefault(match.group(1), match.group(2))
    name = header.get("target", default_name)
    kind = header.get("kind", "")
    if kind not in KINDS:
        raise ConfigurationError(f"model {name}: kind must be one of {KINDS}, not {kind!r}")
    key = _words(header.get("key", ""))
    if not key:
        raise ConfigurationError(f"model {name}: the header names no key")
    entity = _words(header.get("entity", ""))
    if kind == "fact" and not entity:
        raise ConfigurationError(f"model {name}: a fact names its entity column")
    return Target(
        name=name,
        kind=kind,
        key=key,
        sources=_words(header.get("sources", "")),
        sql=text,
        grain=header.get("grain", ""),
        entity=entity[0] if entity else None,
        required=_words(header.get("required", "")),
        text_dates=_words(header.get("text_dates", "")),
    )


def load_model(folder: Path | None = None) -> list[Target]:
    """The targets of a model folder (default: the star schema shipped with pgcdc), in
    run order: facts, then dimensions, then derived targets; by name within a kind."""
    if folder is None:
        files = [
            (Path(f.name).stem, f.read_text())
            for f in resources.files("transformer").joinpath("sql").iterdir()
            if f.name.endswith(".sql")
        ]
    else:
        files = [(p.stem, p.read_text()) for p in sorted(folder.glob("*.sql"))]
        if not files:
            raise ConfigurationError(
                f"model folder {folder} holds no .sql file (PGCDC_MODEL_DIR; copy "
                "transformer/sql/ there to start from the shipped star schema)"
            )
    targets = [parse_target(text, name) for name, text in files]
    order = {"fact": 0, "dimension": 1, "derived": 2}
    return sorted(targets, key=lambda t: (order[t.kind], t.name))
