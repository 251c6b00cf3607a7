"""Office hours: when the totesys application writes orders (weekdays, 08:00-19:00)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

OPENING = time(8, 0)
CLOSING = time(19, 0)
_WORKDAY = datetime.combine(date.min, CLOSING) - datetime.combine(date.min, OPENING)


class OfficeClock:
    """Office time between two instants: weekdays from OPENING to CLOSING, nothing else.

    Office time is measured in seconds since the first opening; :meth:`to_datetime` maps
    it back to a calendar instant. Random arrivals in office time are therefore only ever
    on weekdays in office hours.
    """

    def __init__(self, start: datetime, end: datetime) -> None:
        days = (start.date() + timedelta(n) for n in range((end.date() - start.date()).days))
        self._days = [d for d in days if d.weekday() < 5]
        self._workday_seconds = _WORKDAY.total_seconds()

    @property
    def seconds(self) -> float:
        """Office seconds in the window."""
        return len(self._days) * self._workday_seconds

    def to_datetime(self, office_seconds: float) -> datetime:
        """The calendar instant ``office_seconds`` into office time, to the millisecond."""
        day, offset = divmod(office_seconds, self._workday_seconds)
        opening = datetime.combine(self._days[int(day)], OPENING)
        return opening + timedelta(milliseconds=int(offset * 1000))

    def arrivals(self, rng: random.Random, expected: float) -> Iterator[datetime]:
        """Random instants (a Poisson process) with ``expected`` of them on average, in order."""
        if expected <= 0:
            return
        rate = expected / self.seconds
        elapsed = rng.expovariate(rate)
        while elapsed < self.seconds:
            yield self.to_datetime(elapsed)
            elapsed += rng.expovariate(rate)
