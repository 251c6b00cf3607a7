"""The units of `pgcdc status`'s text report (pure functions)."""

from __future__ import annotations

import pytest

from pgcdc.readside.status_report import byte_size, duration, moment

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "n/a"),
        (0, "0 bytes"),
        (1023, "1,023 bytes"),
        (1024, "1.0 kB"),
        (1536, "1.5 kB"),
        (5 * 1024**2, "5.0 MB"),
        (1 << 30, "1.0 GB"),
        (3 * 1024**4, "3.0 TB"),
        (5000 * 1024**4, "5,000.0 TB"),
    ],
)
def test_byte_size_counts_in_1024s_like_pg_size_pretty(value: int | None, text: str) -> None:
    assert byte_size(value) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "n/a"),
        (0.4, "0 s"),
        (59.4, "59 s"),
        (60, "1 min 0 s"),
        (184, "3 min 4 s"),
        (3600, "1 h 0 min"),
        (7500, "2 h 5 min"),
        (273600, "3 d 4 h"),
    ],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_moment_is_utc_whatever_the_offset() -> None:
    assert moment("2026-12-03T15:00:01+01:00") == "2026-12-03 14:00:01 UTC"
    assert moment(None) == "never"
