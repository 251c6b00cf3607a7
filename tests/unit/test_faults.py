"""The fault points: one closed set, parsed strictly; a real process dies at the n-th visit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pgcdc.schemas.errors import ConfigurationError
from pgcdc.schemas.faults import (
    CAPTURE_POINTS,
    CRASH_EXIT_CODE,
    LOAD_POINTS,
    TRANSFORM_POINTS,
    Point,
    checkpoint,
    wanted,
)

pytestmark = pytest.mark.unit


def test_unset_means_no_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGCDC_FAULT", raising=False)
    assert wanted() is None
    checkpoint(Point.LOAD_OUTPUT)  # returns: nothing to do


def test_a_point_and_its_visit_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGCDC_FAULT", "transform_object:3")
    assert wanted() == (Point.TRANSFORM_OBJECT, 3)
    monkeypatch.setenv("PGCDC_FAULT", "load_before_commit")
    assert wanted() == (Point.LOAD_BEFORE_COMMIT, 1)


@pytest.mark.parametrize("text", ["load_befor_commit", "after_data:x", "after_data:0", ":2"])
def test_a_misspelt_fault_is_an_error(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("PGCDC_FAULT", text)
    with pytest.raises(ConfigurationError, match="PGCDC_FAULT"):
        wanted()
    with pytest.raises(ConfigurationError):
        checkpoint(Point.AFTER_DATA)  # reached with a misspelt fault: refused, not ignored


def test_a_point_that_is_not_in_the_set_is_refused_in_code() -> None:
    with pytest.raises(ValueError, match="after_dat"):
        checkpoint("after_dat")  # type: ignore[arg-type]


def test_the_stage_groups_cover_every_point_once() -> None:
    grouped = [*CAPTURE_POINTS, *TRANSFORM_POINTS, *LOAD_POINTS, Point.SNAPSHOT_PART]
    assert sorted(grouped) == sorted(Point) and len(set(grouped)) == len(grouped)


def test_the_process_dies_at_the_nth_visit_with_the_crash_code() -> None:
    code = (
        "from pgcdc.schemas.faults import Point, checkpoint\n"
        "for i in range(5):\n"
        "    checkpoint(Point.LOAD_OUTPUT)\n"
        "    checkpoint(Point.LOAD_BEFORE_COMMIT)\n"  # another point: not counted
        "    print(i, flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PGCDC_FAULT": "load_output:3", "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
        cwd=str(Path(__file__).parents[2]),  # the repository root: schemas importable
    )
    assert done.returncode == CRASH_EXIT_CODE, done.stderr
    assert done.stdout.split() == ["0", "1"]
    assert "injected crash at load_output" in done.stderr
