"""Working days in France: Monday to Friday, public holidays excluded (jours ouvrés).

The holidays come from the maintained `holidays` package (Easter Monday, Ascension and Whit
Monday move with Easter); no table is written here. Saturday is not a working day: the CDC's
3-working-day rule counts the days an organisation's office is open.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays

_SATURDAY = 5


@lru_cache(maxsize=64)
def _public_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("FR", years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < _SATURDAY and day not in _public_holidays(day.year)


def working_days_after(start: date, end: date) -> int:
    """Working days in (start, end]: how many working days `end` is after `start` (0 when
    `end` is not after `start`)."""
    count = 0
    day = start + timedelta(days=1)
    while day <= end:
        count += is_working_day(day)
        day += timedelta(days=1)
    return count


def add_working_days(start: date, days: int) -> date:
    """The `days`-th working day after `start`."""
    day = start
    while days > 0:
        day += timedelta(days=1)
        days -= is_working_day(day)
    return day
