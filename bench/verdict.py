"""A benchmark figure judged against its floor (must) and its aim (wanted).

Every bench that states a floor or an aim ends with :func:`enforce`: it prints one line per
figure saying whether the floor and the aim were met, and exits non-zero (``SystemExit``
with a ``FAILED:`` message) when any figure misses its floor. Missing only the aim is
printed, not an error. For figures where lower is better (peak memory, latency, a cost
ratio) the floor is an upper limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """How a figure came out."""

    AIM_MET = "aim met"
    FLOOR_MET = "floor met, aim missed"
    FAILED = "below the floor"


@dataclass(frozen=True)
class Goal:
    """What a figure must reach (``floor``) and what it should reach (``aim``, optional)."""

    figure: str
    floor: float
    aim: float | None = None
    higher_is_better: bool = True
    unit: str = ""

    @property
    def floor_word(self) -> str:
        """What the floor is called: a limit when lower is better."""
        return "floor" if self.higher_is_better else "limit"

    def reaches(self, value: float, bound: float) -> bool:
        """Whether ``value`` is at ``bound`` or on its good side."""
        return value >= bound if self.higher_is_better else value <= bound


def judge(goal: Goal, value: float) -> Outcome:
    """The figure's outcome: below the floor, floor met but not the aim, or aim met."""
    if not goal.reaches(value, goal.floor):
        return Outcome.FAILED
    if goal.aim is not None and not goal.reaches(value, goal.aim):
        return Outcome.FLOOR_MET
    return Outcome.AIM_MET


def describe(goal: Goal, value: float) -> str:
    """One line: the figure, its bounds and the verdict, e.g.
    ``ratio …: 0.67 (floor 0.5: met; aim 1: missed)``."""
    met = goal.reaches(value, goal.floor)
    parts = [f"{goal.floor_word} {goal.floor:g}{goal.unit}: {'met' if met else 'NOT MET'}"]
    if goal.aim is not None:
        parts.append(
            f"aim {goal.aim:g}{goal.unit}: {'met' if goal.reaches(value, goal.aim) else 'missed'}"
        )
    return f"{goal.figure}: {value:.4g}{goal.unit} ({'; '.join(parts)})"


def enforce(results: Sequence[tuple[Goal, float]], *, failures: Sequence[str] = ()) -> None:
    """Print each figure's verdict; exit non-zero when one misses its floor.

    ``failures`` are other reasons the run failed (a figure that could not be measured, a
    wrong row count), reported the same way.
    """
    problems = list(failures)
    for goal, value in results:
        print(describe(goal, value))
        if judge(goal, value) is Outcome.FAILED:
            problems.append(f"{goal.figure} {value:.4g}{goal.unit} misses its {goal.floor_word}")
    if problems:
        raise SystemExit("FAILED: " + "; ".join(problems))
    print("PASSED: every floor met")
