"""Each store contract is read in one place (issue 12, "one home for each contract").

Read from the source, nothing imported: a listing of a store, a parse of a store key, a
record decoded from JSON, or the raw objects' Parquet metadata read outside its home fails
here, naming the file and line. The homes (under ``pgcdc/``): the keys and records in
``schemas/layout.py``, ``schemas/processed.py`` and ``schemas/records.py``; the listing, the
newest-record walk and the reads in the lake layer ``storage/lake/``; the Parquet metadata in
``schemas/pgtypes.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.test_import_graph import ROOT, packages

pytestmark = pytest.mark.unit

KEY_HOMES = ("pgcdc/schemas/layout.py", "pgcdc/schemas/processed.py")
LAKE = ("pgcdc/storage/store.py", "pgcdc/storage/lake/")

RULES: dict[str, tuple[re.Pattern[str], tuple[str, ...]]] = {
    # what is done, how it shows in the source, where alone it may be done
    "lists a store": (re.compile(r"\.list_(keys|folders)\("), LAKE),
    "walks to the newest record": (re.compile(r"\bnewest_key\("), LAKE),
    "parses a store key": (
        re.compile(
            r"\bparse_(data_key|batch_key|batch_folder|processed_key|table_folder)\("
            r"|\breadable_objects\("
        ),
        (*KEY_HOMES, "pgcdc/storage/lake/"),
    ),
    "decodes a record": (
        re.compile(r"\bmodel_validate(_json)?\(|\bparse_record\("),
        ("pgcdc/schemas/records.py", "pgcdc/schemas/processed.py", "pgcdc/storage/lake/"),
    ),
    "reads the raw objects' Parquet metadata": (
        re.compile(r"\bSOURCE_(KEY|TYPES|ARRAY_DIMS)_KEY\b"),
        ("pgcdc/schemas/pgtypes.py",),
    ),
}


def shipped_sources() -> list[Path]:
    return [path for package in packages() for path in sorted((ROOT / package).rglob("*.py"))]


def offences(sources: dict[str, str]) -> list[str]:
    """``file:line: what`` for each line doing a rule's thing outside the rule's homes
    (a definition, ``def name(``, is where it is done, so it is not an offence)."""
    found = []
    for where, text in sources.items():
        for what, (pattern, homes) in RULES.items():
            if where.startswith(homes):
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if pattern.search(line) and not line.lstrip().startswith("def "):
                    found.append(f"{where}:{number}: {what}: {line.strip()}")
    return found


def test_every_contract_is_read_only_in_its_home() -> None:
    sources = {p.relative_to(ROOT).as_posix(): p.read_text("utf-8") for p in shipped_sources()}
    assert len(sources) > 80, sorted(sources)  # the scan reaches the whole tree
    assert offences(sources) == []


@pytest.mark.parametrize(
    ("where", "line"),
    [
        ("pgcdc/transformer/rawlog.py", "keys = raw.list_keys(prefix)"),
        ("pgcdc/readside/status.py", "found = newest_key(raw, prefix)"),
        ("pgcdc/warehouse_loader/loader.py", "run = parse_batch_key(key)"),
        ("pgcdc/warehouse_loader/warehouse.py", "output = Output.model_validate_json(text)"),
        ("pgcdc/readside/query.py", "key = json.loads(metadata[SOURCE_KEY_KEY])"),
    ],
)
def test_a_read_outside_its_home_is_found(where: str, line: str) -> None:
    assert offences({where: f"x = 1\n    {line}\n"}) == [
        f"{where}:2: {next(w for w, (p, _) in RULES.items() if p.search(line))}: {line}"
    ]
