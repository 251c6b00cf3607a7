"""The import graph of pgcdc's packages, read from the source (ast, nothing imported).

- The read side (``pgcdc/readside/``) reaches the stages only through their public names: nothing
  that starts with an underscore, and no module whose name does (``pgcdc/cdc_reader/_codec``).
- No cycle between pgcdc's packages (``pgcdc.<package>``), counting every import, lazy ones
  inside functions too: the stages below, the read side and the dev tools above them, the
  wiring (``pipeline``) on top.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
STAGES = frozenset({"schemas", "storage", "cdc_reader", "transformer", "warehouse_loader"})
READ_SIDE = "readside"


NAMESPACE = "pgcdc"


def packages() -> list[str]:
    """The top-level packages pyproject.toml ships (one: the ``pgcdc`` namespace)."""
    with (ROOT / "pyproject.toml").open("rb") as handle:
        include = tomllib.load(handle)["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted({pattern.rstrip("*").rstrip(".") for pattern in include})


def subpackages() -> set[str]:
    """The packages inside the namespace (``schemas``, ``cdc_reader``, …, ``pipeline``)."""
    return {p.parent.name for p in (ROOT / NAMESPACE).glob("*/__init__.py")}


def unit(module: str) -> str | None:
    """The namespace package a dotted module belongs to (None: outside pgcdc's packages)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == NAMESPACE else None


@dataclass(frozen=True)
class Import:
    """One imported name (or module), where it is imported."""

    where: str  # file:line
    importer: str  # dotted module name of the importing file
    module: str  # dotted module imported from (or imported)
    name: str | None  # the name taken from it, None for ``import module``


def module_name(path: Path) -> str:
    """The dotted name of a source file under ROOT."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, importer: str, where: str, *, is_package: bool) -> Iterator[Import]:
    """Every import in ``source``, at any depth (function bodies included)."""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(f"{where}:{node.lineno}", importer, alias.name, None)
        elif isinstance(node, ast.ImportFrom):
            stem = base[: len(base) - node.level + 1] if node.level else []
            module = ".".join([*stem, *([node.module] if node.module else [])])
            for alias in node.names:
                yield Import(f"{where}:{node.lineno}", importer, module, alias.name)


def all_imports() -> list[Import]:
    """The imports of every module of every shipped package."""
    found: list[Import] = []
    for package in packages():
        for path in sorted((ROOT / package).rglob("*.py")):
            where = path.relative_to(ROOT).as_posix()
            found += imports_of(
                path.read_text(encoding="utf-8"),
                module_name(path),
                where,
                is_package=path.name == "__init__.py",
            )
    return found


def private_stage_imports(found: list[Import], side: str = READ_SIDE) -> list[str]:
    """Imports by ``side``'s modules of a stage's private module or name."""
    bad = []
    for imp in found:
        if unit(imp.importer) != side or unit(imp.module) not in STAGES:
            continue
        parts = imp.module.split(".") + ([imp.name] if imp.name else [])
        if any(part.startswith("_") for part in parts):
            shown = f"{imp.module}.{imp.name}" if imp.name else imp.module
            bad.append(f"{imp.where} imports {shown}")
    return bad


def package_edges(found: list[Import], tops: set[str]) -> dict[tuple[str, str], str]:
    """Package → package edges between ``tops``, each with one import that makes it."""
    edges: dict[tuple[str, str], str] = {}
    for imp in found:
        source, target = unit(imp.importer), unit(imp.module)
        if source is not None and target in tops and target != source:
            edges.setdefault((source, target), f"{imp.where} imports {imp.module}")
    return edges


def cycles(edges: dict[tuple[str, str], str]) -> list[list[str]]:
    """The package cycles of the graph, each once (from its smallest package name)."""
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
    found: set[tuple[str, ...]] = set()

    def walk(path: list[str]) -> None:
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt == path[0]:
                found.add(tuple(path))
            elif nxt not in path and nxt > path[0]:
                walk([*path, nxt])

    for start in sorted(graph):
        walk([start])
    return [list(c) for c in sorted(found)]


def describe(cycle: list[str], edges: dict[tuple[str, str], str]) -> str:
    """A cycle with the import behind each of its edges."""
    steps = zip(cycle, [*cycle[1:], cycle[0]], strict=True)
    return " → ".join([*cycle, cycle[0]]) + ": " + "; ".join(edges[s] for s in steps)


def test_the_read_side_imports_only_public_names_of_the_stages() -> None:
    found = all_imports()
    assert any(unit(i.importer) == READ_SIDE for i in found)  # the walk saw the read side
    assert private_stage_imports(found) == []


def test_no_import_cycle_between_packages() -> None:
    assert packages() == [NAMESPACE]  # one import namespace
    assert STAGES | {READ_SIDE, "devtools", "pipeline"} == subpackages()
    edges = package_edges(all_imports(), subpackages())
    assert ("pipeline", READ_SIDE) in edges  # the CLI's lazy imports are counted
    problems = [describe(c, edges) for c in cycles(edges)]
    assert problems == [], "\n".join(problems)


def test_the_checks_see_lazy_relative_and_private_imports() -> None:
    """The two rules on a made-up module: each catches what it is for."""
    source = (
        "from pgcdc.cdc_reader import _codec\n"
        "from pgcdc.storage.lake.raw import table_objects\n"
        "def later():\n"
        "    from ..pipeline import service\n"
        "    from pgcdc.transformer._fold import merge\n"
    )
    found = list(imports_of(source, "pgcdc.readside.dashboard.page", "page.py", is_package=False))
    assert private_stage_imports(found) == [
        "page.py:1 imports pgcdc.cdc_reader._codec",
        "page.py:5 imports pgcdc.transformer._fold.merge",
    ]
    lazy = [i for i in found if i.module == "pgcdc.readside.pipeline"]
    assert lazy and lazy[0].name == "service"  # ``..`` from pgcdc/readside/dashboard: readside
    edges = package_edges(
        [*found, Import("cli.py:1", "pgcdc.pipeline.cli", "pgcdc.readside.status", None)],
        {"pipeline", "readside", "cdc_reader", "storage", "transformer"},
    )
    assert cycles(edges) == []
    edges[("readside", "pipeline")] = "page.py:9 imports pipeline.config"
    assert cycles(edges) == [["pipeline", "readside"]]
