"""docs/architecture.md stays true to the tree: every module its "path of one change" table
names exists under ``pgcdc/``, every name a step says happens there is found in that step's
modules, and the layout drawing lists exactly the packages of the namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.test_import_graph import NAMESPACE, ROOT, subpackages

pytestmark = pytest.mark.unit

DOC = ROOT / "docs" / "architecture.md"
CODE = re.compile(r"`([^`]+)`")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else None]


def steps(text: str) -> list[tuple[str, list[str], list[str]]]:
    """(step, module paths, names in the description) of each table row."""
    found = []
    for line in section(text, "Path of one change").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].isdigit():
            continue
        found.append((cells[0], modules(cells[1]), CODE.findall(cells[2])))
    return found


def modules(cell: str) -> list[str]:
    """The cell's module paths; a bare file name or subfolder is in the previous one's
    folder (``cdc_reader/shape.py`` + ``tablebatch.py``)."""
    paths: list[str] = []
    for token in CODE.findall(cell):
        path = token
        if paths and not token.startswith(tuple(f"{p}/" for p in subpackages())):
            folder = paths[-1].rstrip("/").rsplit("/", 1)[0] if "." in paths[-1] else paths[-1]
            path = f"{folder.rstrip('/')}/{token}"
        paths.append(path)
    return paths


def missing_names(text: str, root: Path) -> list[str]:
    problems = []
    for step, paths, names in steps(text):
        sources = []
        for path in paths:
            where = root / NAMESPACE / path
            if not where.exists():
                problems.append(f"step {step}: {path} does not exist")
                continue
            files = sorted(f for f in where.rglob("*") if f.suffix in {".py", ".sql"})
            files = files if where.is_dir() else [where]
            sources += [f.read_text("utf-8") for f in files]
        body = "\n".join(sources)
        for name in names:
            if NAME.fullmatch(name) and name.split(".")[-1] not in body:
                problems.append(f"step {step}: `{name}` is not in {', '.join(paths)}")
    return problems


def test_the_path_of_one_change_names_modules_and_names_that_exist() -> None:
    text = DOC.read_text("utf-8")
    assert len(steps(text)) >= 15
    assert missing_names(text, ROOT) == []


def test_the_layout_drawing_lists_every_package_of_the_namespace() -> None:
    drawing = section(DOC.read_text("utf-8"), "Layout")
    drawn = set(re.findall(r"^\s{2}(\w+)/\s", drawing, re.M))
    assert drawn == subpackages()


def test_a_stale_step_is_found() -> None:
    text = DOC.read_text("utf-8")
    stale = text.replace("`read_changes`", "`read_all_changes`", 1)
    moved = text.replace("`transformer/rawlog.py`", "`transformer/raw_log.py`", 1)
    assert missing_names(stale, ROOT) == [
        "step 11: `read_all_changes` is not in transformer/rawlog.py"
    ]
    assert missing_names(moved, ROOT)[:2] == [
        "step 11: transformer/raw_log.py does not exist",
        "step 11: `read_changes` is not in transformer/raw_log.py",
    ]
