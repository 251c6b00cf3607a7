"""The JSON filter-pattern evaluator the state machine tests use (tests/infra/filter_pattern.py)."""

from __future__ import annotations

import json

import pytest

from tests.infra.filter_pattern import PatternError, matches

ERROR_LINE = json.dumps(
    {"ts": "t", "level": "ERROR", "logger": "pgcdc.handler", "message": "transform failed: x"}
)
INFO_LINE = json.dumps(
    {"level": "INFO", "message": "slot lag", "metric": "slot_lag_bytes", "value": 42}
)


@pytest.mark.parametrize(
    ("pattern", "line", "expected"),
    [
        ('{ $.level = "ERROR" }', ERROR_LINE, True),
        ('{ $.level = "ERROR" }', INFO_LINE, False),
        ('{ $.level = "error" }', ERROR_LINE, False),  # case-sensitive
        ('{ $.metric = "slot_lag_bytes" }', INFO_LINE, True),
        ('{ $.metric = "slot_lag_bytes" }', ERROR_LINE, False),  # key absent
        ("{ $.level = ERROR }", ERROR_LINE, True),  # bare string
        ('{ $.message = "transform failed*" }', ERROR_LINE, True),  # wildcard
        ('{ $.message = "transform" }', ERROR_LINE, False),  # whole-value equality
        ('{ $.level != "ERROR" }', INFO_LINE, True),
        ("{ $.value > 41 }", INFO_LINE, True),
        ("{ $.value >= 43 }", INFO_LINE, False),
        ("{ $.value = 42 }", INFO_LINE, True),
        ('{ $.level = "INFO" && $.value < 100 }', INFO_LINE, True),
        ('{ $.level = "ERROR" || $.value < 100 }', INFO_LINE, True),
        ('{ ($.level = "ERROR" || $.level = "INFO") && $.value > 100 }', INFO_LINE, False),
        ("{ $.error_type NOT EXISTS }", INFO_LINE, True),
        ('{ $.level = "ERROR" }', "ERROR not json at all", False),
        ('{ $.level = "ERROR" }', '["ERROR"]', False),
    ],
)
def test_pattern(pattern: str, line: str, expected: bool) -> None:
    assert matches(pattern, line) is expected


def test_nested_selectors_and_keywords() -> None:
    line = json.dumps({"a": {"b": [None, True]}, "c": None})
    assert matches("{ $.a.b[1] IS TRUE }", line)
    assert not matches("{ $.a.b[1] IS FALSE }", line)
    assert matches("{ $.c IS NULL }", line)
    assert not matches("{ $.a.b[5] IS NULL }", line)  # missing is not null


@pytest.mark.parametrize("pattern", ['$.level = "ERROR"', "{ $.level = }", "{ level = 1 }"])
def test_unsupported_or_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(PatternError):
        matches(pattern, ERROR_LINE)
