"""Model file headers are a closed set of keys, parsed whole; the kind is one enum shared
by the model, the batch manifests and the loader."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pydantic
import pytest

from pgcdc.schemas.errors import ConfigurationError
from pgcdc.schemas.processed import MODEL_KINDS, Kind, Output
from pgcdc.transformer.model import HEADER_KEYS, load_model, parse_target

pytestmark = pytest.mark.unit

FACT = """-- target: fact_thing
-- kind: fact
-- grain: one row per version of a thing
-- key: thing_record_id
-- entity: thing_id
-- sources: public.thing
-- incremental: source_lsn (each run reads the versions after its position)
-- required: thing_id, amount
-- text_dates: due
-- A free comment line (no name and colon at its start) is not a key.
SELECT thing_id AS thing_record_id, thing_id, _lsn AS source_lsn FROM thing
"""


def test_every_key_is_parsed() -> None:
    target = parse_target(FACT, "ignored")
    assert target.name == "fact_thing" and target.kind is Kind.FACT
    assert target.key == ("thing_record_id",) and target.entity == "thing_id"
    assert target.sources == ("public.thing",)
    assert target.grain == "one row per version of a thing"
    assert target.incremental == "source_lsn (each run reads the versions after its position)"
    assert target.incremental_column == "source_lsn"
    assert target.required == ("thing_id", "amount") and target.text_dates == ("due",)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("-- requried: thing_id, amount", "requried"),
        ("-- Required: thing_id, amount", "Required"),
        ("-- text-dates: due", "text-dates"),
        ("-- incremental_column: source_lsn", "incremental_column"),
    ],
)
def test_an_unknown_key_is_refused_naming_file_line_and_key(line: str, key: str) -> None:
    text = FACT.replace("-- required: thing_id, amount", line)
    with pytest.raises(ConfigurationError) as raised:
        parse_target(text, "fact_thing", file="models/fact_thing.sql")
    message = str(raised.value)
    assert message.startswith(f"models/fact_thing.sql:8: unknown model header key {key!r}")
    assert "\n" not in message


def test_a_key_given_twice_is_refused() -> None:
    text = FACT.replace("-- text_dates: due", "-- text_dates: due\n-- key: other_id")
    with pytest.raises(ConfigurationError, match=r"fact_thing\.sql:10: .*'key' given twice"):
        parse_target(text, "fact_thing")


def test_a_bad_file_in_a_model_folder_is_named_by_its_path(tmp_path: Path) -> None:
    (tmp_path / "fact_thing.sql").write_text(FACT.replace("-- grain:", "-- grian:"))
    with pytest.raises(ConfigurationError, match=rf"^{tmp_path}/fact_thing\.sql:3: .*'grian'"):
        load_model(tmp_path)


def test_a_kind_outside_the_model_kinds_is_refused() -> None:
    for kind in ("mirror", "quarantine", "facts"):
        want = re.escape(f"kind must be fact | dimension | derived, not {kind!r}")
        with pytest.raises(ConfigurationError, match=want):
            parse_target(FACT.replace("-- kind: fact", f"-- kind: {kind}"), "x")


def test_the_shipped_model_uses_only_known_keys_and_the_shared_kinds() -> None:
    targets = load_model()
    assert {t.kind for t in targets} == set(MODEL_KINDS)
    assert all(isinstance(t.kind, Kind) for t in targets)
    assert all(t.incremental for t in targets)  # every shipped file says what a run redoes
    assert {t.incremental_column for t in targets if t.kind is Kind.FACT} == {"source_lsn"}
    assert {"incremental", "required", "text_dates", "entity"} <= HEADER_KEYS


def test_a_manifest_output_reads_its_kind_into_the_enum() -> None:
    """Manifests written before the enum hold the same words, so they still read."""
    doc = '{"target": "public.t", "kind": "mirror", "key": ["id"], "objects": []}'
    assert Output.model_validate_json(doc).kind is Kind.MIRROR
    assert (
        '"kind":"fact"' in Output(target="f", kind=Kind.FACT, key=(), objects=()).model_dump_json()
    )
    with pytest.raises(pydantic.ValidationError):
        Output.model_validate_json(doc.replace('"mirror"', '"mirrors"'))


def kind_literals() -> list[str]:
    """``x.kind`` compared with a string literal anywhere in the packages (file:line)."""
    root = Path(__file__).resolve().parents[2]
    found = []
    for package in ("transformer", "warehouse_loader", "pipeline", "schemas"):
        folder = root / "pgcdc" / package
        assert folder.is_dir(), folder
        for path in sorted(folder.rglob("*.py")):
            text = path.read_text()
            if ".kind" not in text:
                continue  # parse only the modules that can hold a comparison
            for node in ast.walk(ast.parse(text)):
                if not isinstance(node, ast.Compare):
                    continue
                sides = [node.left, *node.comparators]
                if not any(isinstance(s, ast.Attribute) and s.attr == "kind" for s in sides):
                    continue
                texts = [c for s in sides for c in ast.walk(s) if isinstance(c, ast.Constant)]
                if any(isinstance(c.value, str) for c in texts):
                    found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_kinds_are_compared_as_enum_members_only() -> None:
    """One vocabulary: a misspelt ``"facts"`` in a comparison would silently never match."""
    assert kind_literals() == []
