"""Parsers for Postgres' text output of values, as a session with pgcdc's settings prints it.

The reader's session sets ``DateStyle=ISO``, ``TimeZone=UTC``, ``IntervalStyle=iso_8601``
and ``bytea_output=hex``; interval text in the default ``postgres`` style is accepted too.
Dates and timestamps become integers (days and microseconds since 1970-01-01) so that
years Python's ``datetime`` cannot hold (BC, after 9999) and ``infinity`` keep their value.
"""

from __future__ import annotations

import functools
import re
from typing import Any, NamedTuple

INT64_MAX = (1 << 63) - 1
DATE_INFINITY = (1 << 31) - 1
"""date32 value DuckDB reads as ``infinity``; ``-DATE_INFINITY`` is ``-infinity``."""
TIMESTAMP_INFINITY = INT64_MAX
"""int64 microseconds DuckDB reads as ``infinity``; the negation is ``-infinity``."""
MICROS_PER_DAY = 86_400_000_000

_DATE = re.compile(r"^(\d{4,})-(\d\d)-(\d\d)( BC)?$")
_TIMESTAMP = re.compile(
    r"^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?"
    r"(?:([+-])(\d\d)(?::(\d\d)(?::(\d\d))?)?)?( BC)?$"
)
_TIME = re.compile(r"^(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$")
_ISO_INTERVAL = re.compile(
    r"^P(?!$)(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)W)?(?:(-?\d+)D)?"
    r"(?:T(?!$)(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?\d+(?:\.\d{1,6})?)S)?)?$"
)
_PG_INTERVAL = re.compile(
    r"^(?!$)(?:(-?\d+) years? ?)?(?:(-?\d+) mons? ?)?(?:(-?\d+) days? ?)?"
    r"(?:([+-]?)(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?)?$"
)
_SPECIAL_DATES = {"infinity": DATE_INFINITY, "-infinity": -DATE_INFINITY}
_SPECIAL_TIMESTAMPS = {"infinity": TIMESTAMP_INFINITY, "-infinity": -TIMESTAMP_INFINITY}


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (astronomical years)."""
    if not 1 <= month <= 12 or not 1 <= day <= _month_length(year, month):
        raise ValueError(f"no such date: {year}-{month}-{day}")
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _month_length(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _year(digits: str, bc: str | None) -> int:
    # Year 1 BC is astronomical year 0.
    return 1 - int(digits) if bc else int(digits)


def _fraction_micros(digits: str | None) -> int:
    return int(digits.ljust(6, "0")) if digits else 0


def parse_date(text: str) -> int:
    """Days since 1970-01-01; ``±infinity`` as ``±DATE_INFINITY``."""
    special = _SPECIAL_DATES.get(text)
    if special is not None:
        return special
    match = _DATE.match(text)
    if match is None:
        raise ValueError(f"not a date: {text!r}")
    year, month, day, bc = match.groups()
    return _days_from_civil(_year(year, bc), int(month), int(day))


def parse_timestamp(text: str) -> int:
    """Microseconds since 1970-01-01 (UTC when an offset is present); ``±infinity`` as
    ``±TIMESTAMP_INFINITY``. Values beyond what int64 microseconds hold are refused."""
    special = _SPECIAL_TIMESTAMPS.get(text)
    if special is not None:
        return special
    match = _TIMESTAMP.match(text)
    if match is None:
        raise ValueError(f"not a timestamp: {text!r}")
    year, month, day, hh, mi, ss, frac, sign, oh, om, os_, bc = match.groups()
    if int(hh) > 23 or int(mi) > 59 or int(ss) > 59:
        raise ValueError(f"not a timestamp: {text!r}")
    days = _days_from_civil(_year(year, bc), int(month), int(day))
    seconds = int(hh) * 3600 + int(mi) * 60 + int(ss)
    if sign:
        offset = int(oh) * 3600 + int(om or 0) * 60 + int(os_ or 0)
        seconds -= offset if sign == "+" else -offset
    micros = days * MICROS_PER_DAY + seconds * 1_000_000 + _fraction_micros(frac)
    if not -TIMESTAMP_INFINITY < micros < TIMESTAMP_INFINITY:
        raise ValueError(f"timestamp out of the int64 microsecond range: {text!r}")
    return micros


def parse_time(text: str) -> int:
    """Microseconds since midnight, ``24:00:00`` included."""
    match = _TIME.match(text)
    if match is None:
        raise ValueError(f"not a time: {text!r}")
    hh, mi, ss, frac = match.groups()
    micros = ((int(hh) * 60 + int(mi)) * 60 + int(ss)) * 1_000_000 + _fraction_micros(frac)
    if int(mi) > 59 or int(ss) > 59 or micros > MICROS_PER_DAY:
        raise ValueError(f"not a time: {text!r}")
    return micros


class Interval(NamedTuple):
    """A Postgres interval's three fields, as Postgres (and DuckDB) store them."""

    months: int
    days: int
    micros: int

    def canonical(self) -> str:
        """``'<m> months <d> days <us> microseconds'``: exact, and castable to INTERVAL."""
        return f"{self.months} months {self.days} days {self.micros} microseconds"


def parse_interval(text: str) -> Interval:
    """An interval printed with ``IntervalStyle`` ``iso_8601`` or ``postgres``."""
    match = _ISO_INTERVAL.match(text)
    if match is not None:
        y, mo, w, d, h, mi, s = match.groups()
        seconds = _seconds_micros(s)
        return Interval(
            _int(y) * 12 + _int(mo),
            _int(w) * 7 + _int(d),
            (_int(h) * 3600 + _int(mi) * 60) * 1_000_000 + seconds,
        )
    match = _PG_INTERVAL.match(text)
    if match is None:
        raise ValueError(f"not an interval (IntervalStyle iso_8601 or postgres): {text!r}")
    y, mo, d, sign, h, mi, s, frac = match.groups()
    clock = ((_int(h) * 60 + _int(mi)) * 60 + _int(s)) * 1_000_000 + _fraction_micros(frac)
    return Interval(_int(y) * 12 + _int(mo), _int(d), -clock if sign == "-" else clock)


def _int(text: str | None) -> int:
    return int(text) if text else 0


def _seconds_micros(text: str | None) -> int:
    if not text:
        return 0
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(".")
    micros = int(whole) * 1_000_000 + _fraction_micros(frac or None)
    return -micros if negative else micros


def parse_bytea(text: str) -> bytes:
    """Hex bytea: wal2json's top-level form without ``\\x`` or an array element with it."""
    return bytes.fromhex(text[2:] if text.startswith("\\x") else text)


BOOL_TEXT = {"t": True, "f": False, "true": True, "false": False}
"""Postgres' boolean output (array elements, domains) and its long form."""


def parse_array(text: str) -> list[Any]:
    """A Postgres array literal as nested lists of element texts, None for NULL.

    ``{1,NULL,"a b","NULL"}`` gives ``['1', None, 'a b', 'NULL']``; ``{{1,2},{3,4}}`` gives
    lists of lists; ``{}`` gives ``[]``. Explicit bounds (``[0:1]={...}``) are dropped: the
    elements keep their order, the lower bound is not kept. Parsed by psycopg's own text
    array loader (no connection needed), for Postgres' output form: a literal it never
    prints (``{ 1 }``, ``{a\\,b}``, lower-case ``null``) is read as psycopg reads it.
    """
    if not text.endswith("}"):
        raise ValueError(f"not an array literal: {text!r}")
    loader, refused = _array_loader()
    try:
        items = loader.load(text.encode())
    except refused as exc:
        raise ValueError(f"malformed array literal: {text!r} ({exc})") from None
    if not isinstance(items, list) or _ragged(items):
        raise ValueError(f"malformed array literal: {text!r} (not rectangular)")
    return items


@functools.cache
def _array_loader() -> tuple[Any, type[Exception]]:
    """psycopg's text-format loader of ``text[]`` (the elements come back as their text),
    and the error it raises for a malformed literal."""
    import psycopg  # imported on first use: the codec's import stays light
    from psycopg import postgres
    from psycopg.pq import Format

    info = postgres.types["text"]
    assert info is not None
    loader = postgres.adapters.get_loader(info.array_oid, Format.TEXT)
    assert loader is not None
    return loader(info.array_oid), psycopg.DataError


def _ragged(items: list[Any]) -> bool:
    """Whether nested lists are not a rectangle (Postgres' arrays always are)."""
    nested = [isinstance(item, list) for item in items]
    if not any(nested):
        return False
    if not all(nested):
        return True
    return len({len(item) for item in items}) != 1 or any(_ragged(item) for item in items)


def array_depth(value: list[Any]) -> int:
    """Number of dimensions of a parsed array (1 for an empty one)."""
    depth = 1
    while value and isinstance(value[0], list):
        value = value[0]
        depth += 1
    return depth
