"""The benchmarks' verdict: a figure below its floor fails the run, a missed aim is only said."""

from __future__ import annotations

import pytest

from bench.verdict import Goal, Outcome, describe, enforce, judge

pytestmark = pytest.mark.unit

RATIO = Goal("ratio", floor=0.5, aim=1.0)
PEAK = Goal("peak RSS", floor=300.0, higher_is_better=False, unit=" MB")
P95 = Goal("p95", floor=10.0, aim=5.0, higher_is_better=False, unit=" s")


@pytest.mark.parametrize(
    ("goal", "value", "outcome"),
    [
        (RATIO, 1.2, Outcome.AIM_MET),
        (RATIO, 1.0, Outcome.AIM_MET),  # reaching a bound meets it
        (RATIO, 0.67, Outcome.FLOOR_MET),
        (RATIO, 0.5, Outcome.FLOOR_MET),
        (RATIO, 0.49, Outcome.FAILED),
        (PEAK, 233.4, Outcome.AIM_MET),  # no aim: meeting the limit is all there is
        (PEAK, 300.0, Outcome.AIM_MET),
        (PEAK, 300.1, Outcome.FAILED),
        (P95, 2.9, Outcome.AIM_MET),
        (P95, 7.0, Outcome.FLOOR_MET),
        (P95, 10.5, Outcome.FAILED),
    ],
)
def test_judge(goal: Goal, value: float, outcome: Outcome) -> None:
    assert judge(goal, value) is outcome


def test_describe_says_which_bounds_were_met() -> None:
    assert describe(RATIO, 0.67) == "ratio: 0.67 (floor 0.5: met; aim 1: missed)"
    assert describe(RATIO, 0.4) == "ratio: 0.4 (floor 0.5: NOT MET; aim 1: missed)"
    assert describe(PEAK, 233.4) == "peak RSS: 233.4 MB (limit 300 MB: met)"
    assert describe(P95, 2.96) == "p95: 2.96 s (limit 10 s: met; aim 5 s: met)"


def test_enforce_passes_when_the_aim_is_missed(capsys: pytest.CaptureFixture[str]) -> None:
    enforce([(RATIO, 0.67), (PEAK, 233.4)])
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "ratio: 0.67 (floor 0.5: met; aim 1: missed)",
        "peak RSS: 233.4 MB (limit 300 MB: met)",
        "PASSED: every floor met",
    ]


def test_enforce_exits_non_zero_below_a_floor(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        enforce([(RATIO, 0.67), (PEAK, 412.0)])
    assert exited.value.code == "FAILED: peak RSS 412 MB misses its limit"
    with pytest.raises(SystemExit) as exited:
        enforce([(RATIO, 0.3)])
    assert exited.value.code == "FAILED: ratio 0.3 misses its floor"
    assert "PASSED" not in capsys.readouterr().out


def test_enforce_exits_non_zero_for_other_failures() -> None:
    with pytest.raises(SystemExit) as exited:
        enforce([(RATIO, 1.5)], failures=["2 probe(s) never became visible"])
    assert exited.value.code == "FAILED: 2 probe(s) never became visible"
