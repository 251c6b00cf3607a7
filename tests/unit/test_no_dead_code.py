"""Shared contracts with no user are removed, not kept "in case": every error class and
every public ``Store`` method is used by the packages; the capture state store's in-memory
twin is used by the capture unit tests (tests/unit/test_capture_recorded.py)."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from pgcdc.schemas import errors
from pgcdc.storage.store import Store

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "schemas",
    "storage",
    "cdc_reader",
    "transformer",
    "warehouse_loader",
    "pipeline",
    "readside",
    "devtools",
)
STORE_API_FOR_PEOPLE = {
    # run by an operator after a crash (docs/architecture.md), never by a stage
    "abort_incomplete_uploads",
}


def package_sources(skip: Path) -> str:
    """The text of every module of the packages, but ``skip``."""
    folders = [ROOT / "pgcdc" / pkg for pkg in PACKAGES]
    assert all(folder.is_dir() for folder in folders), folders
    files = [p for folder in folders for p in sorted(folder.rglob("*.py")) if p != skip]
    return "\n".join(p.read_text() for p in files)


def test_every_error_class_is_used_outside_its_module() -> None:
    module = Path(inspect.getfile(errors))
    classes = [n.name for n in ast.parse(module.read_text()).body if isinstance(n, ast.ClassDef)]
    others = package_sources(skip=module)
    unused = [c for c in classes if not re.search(rf"\b{c}\b", others)]
    assert not unused, f"error classes no package raises, catches or derives from: {unused}"


def test_every_public_store_method_is_used_by_a_package() -> None:
    module = Path(inspect.getfile(Store))
    methods = [n for n, _ in inspect.getmembers(Store) if not n.startswith("_")]
    others = package_sources(skip=module)
    unused = [
        m for m in methods if m not in STORE_API_FOR_PEOPLE and not re.search(rf"\.{m}\b", others)
    ]
    assert not unused, f"Store methods no package calls: {unused}"


def test_the_memory_state_store_has_a_user() -> None:
    users = [
        p.name
        for p in sorted((ROOT / "tests").rglob("test_*.py"))
        if re.search(r"\bMemoryStateStore\(", p.read_text())
    ]
    assert users, "MemoryStateStore is constructed by no test"
