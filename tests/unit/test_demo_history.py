"""The demo history generator and its office clock, without a database."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, time, timedelta

import pytest

from pgcdc.devtools.demo.catalog import TABLES
from pgcdc.devtools.demo.clock import OfficeClock
from pgcdc.devtools.demo.generator import generate

pytestmark = pytest.mark.unit


def test_office_clock_maps_office_seconds_to_weekday_hours() -> None:
    # 2025-06-06 is a Friday: office time jumps from its closing to Monday's opening.
    clock = OfficeClock(datetime(2025, 6, 6), datetime(2025, 6, 10))
    assert clock.seconds == 2 * 11 * 3600
    assert clock.to_datetime(0) == datetime(2025, 6, 6, 8, 0)
    assert clock.to_datetime(11 * 3600 - 0.0005) == datetime(2025, 6, 6, 18, 59, 59, 999000)
    assert clock.to_datetime(11 * 3600) == datetime(2025, 6, 9, 8, 0)


def test_arrivals_are_in_office_hours_in_order_and_about_as_many_as_expected() -> None:
    clock = OfficeClock(datetime(2024, 1, 1), datetime(2024, 7, 1))
    arrivals = list(clock.arrivals(random.Random(1), 5_000))
    assert 4_700 <= len(arrivals) <= 5_300
    assert arrivals == sorted(arrivals)
    assert all(a.weekday() < 5 and time(8) <= a.time() < time(19) for a in arrivals)
    assert all(a.microsecond % 1000 == 0 for a in arrivals)  # timestamp(3) holds them exactly
    assert list(clock.arrivals(random.Random(1), 0)) == []


def test_generation_is_deterministic_per_seed() -> None:
    assert generate(scale=0.05, seed=3) == generate(scale=0.05, seed=3)
    assert generate(scale=0.05, seed=3) != generate(scale=0.05, seed=4)


def test_reference_tables_do_not_depend_on_the_scale() -> None:
    small, large = generate(scale=0, seed=5), generate(scale=0.2, seed=5)
    for table in ("address", "counterparty", "currency", "department", "staff", "payment_type"):
        assert small.rows[table] == large.rows[table]
    assert [t.name for t in TABLES] == list(small.rows)
    assert len(small.rows["sales_order"]) == 0
    assert len(small.rows["design"]) == 1  # the first design exists from day one


def test_every_row_has_exactly_its_tables_columns() -> None:
    data = generate(scale=0.02, seed=1)
    for table in TABLES:
        for row in data.rows[table.name]:
            assert set(row) == set(table.columns), table.name


def test_payments_flip_to_paid_within_six_days() -> None:
    payments = generate(scale=0.1, seed=2).rows["payment"]
    kinds = Counter(p["paid"] for p in payments)
    assert kinds[True] > 0.95 * len(payments)
    for p in payments:
        assert isinstance(p["created_at"], datetime) and isinstance(p["last_updated"], datetime)
        delay = p["last_updated"] - p["created_at"]
        if p["paid"]:
            assert timedelta(hours=12) <= delay <= timedelta(days=6)
        else:
            assert delay == timedelta(0)
