"""Every failpoint in the code is a member of the one enum, and every member is reached."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pgcdc.schemas.faults import Point

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "storage", "cdc_reader", "transformer", "warehouse_loader", "pipeline")


def checkpoint_arguments() -> list[tuple[str, ast.expr]]:
    """(file:line, argument) of every ``checkpoint(...)`` call in the packages."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / "pgcdc" / package).rglob("*.py")):
            text = path.read_text()
            if "checkpoint(" not in text:
                continue  # parse only the modules that can hold a call
            for node in ast.walk(ast.parse(text)):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id == "checkpoint"
                ):
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.extend((where, arg) for arg in node.args)
    return found


def test_every_checkpoint_names_a_point_member() -> None:
    calls = checkpoint_arguments()
    assert calls
    named = {}
    for where, arg in calls:
        assert (
            isinstance(arg, ast.Attribute)
            and isinstance(arg.value, ast.Name)
            and arg.value.id == "Point"
        ), f"{where}: a failpoint must be Point.<NAME>, not {ast.unparse(arg)}"
        assert arg.attr in Point.__members__, f"{where}: Point.{arg.attr} is no point"
        named[Point[arg.attr]] = where
    assert set(named) == set(Point), f"points no code reaches: {set(Point) - set(named)}"
