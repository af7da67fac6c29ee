"""Working days around the holidays that move with Easter, 14 July and the year's end."""

from __future__ import annotations

from datetime import date

import pytest

from agora_bridge.orientation.working_days import (
    add_working_days,
    is_working_day,
    working_days_after,
)


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2026, 4, 6), "Easter Monday 2026"),
        (date(2027, 3, 29), "Easter Monday 2027"),
        (date(2026, 5, 14), "Ascension 2026 (a Thursday)"),
        (date(2027, 5, 6), "Ascension 2027"),
        (date(2026, 5, 25), "Whit Monday 2026"),
        (date(2027, 5, 17), "Whit Monday 2027"),
        (date(2026, 7, 14), "14 July 2026 (a Tuesday)"),
        (date(2026, 12, 25), "Christmas"),
        (date(2027, 1, 1), "New Year's Day 2027 (a Friday)"),
    ],
)
def test_public_holidays_are_not_working_days(day: date, name: str) -> None:
    assert day.weekday() < 5, name  # a weekday: only the holiday makes it a day off
    assert not is_working_day(day), name


def test_weekends_are_not_working_days_and_ordinary_weekdays_are() -> None:
    assert not is_working_day(date(2026, 11, 28))  # Saturday
    assert not is_working_day(date(2026, 11, 29))  # Sunday
    assert is_working_day(date(2026, 11, 27))  # Friday
    assert is_working_day(date(2026, 4, 7))  # the Tuesday after Easter Monday


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        # Thursday before Easter 2026: Friday 3, (weekend, Easter Monday 6), Tue 7, Wed 8.
        (date(2026, 4, 2), 3, date(2026, 4, 8)),
        # Wednesday before Ascension 2026: (Thu 14 off) Fri 15, Mon 18, Tue 19.
        (date(2026, 5, 13), 3, date(2026, 5, 19)),
        # Friday before Whit Monday 2026: (Mon 25 off) Tue 26, Wed 27, Thu 28.
        (date(2026, 5, 22), 3, date(2026, 5, 28)),
        # Monday 13 July 2026: (Tue 14 off) Wed 15, Thu 16, Fri 17.
        (date(2026, 7, 13), 3, date(2026, 7, 17)),
        # Thursday 24 December 2026: (Fri 25 off) Mon 28, Tue 29, Wed 30.
        (date(2026, 12, 24), 3, date(2026, 12, 30)),
        # Wednesday 30 December 2026: Thu 31, (Fri 1 January off) Mon 4, Tue 5.
        (date(2026, 12, 30), 3, date(2027, 1, 5)),
        (date(2026, 11, 27), 0, date(2026, 11, 27)),
    ],
)
def test_adding_working_days_skips_weekends_and_holidays(
    start: date, days: int, expected: date
) -> None:
    assert add_working_days(start, days) == expected
    assert working_days_after(start, expected) == days


def test_days_after_counts_neither_the_start_nor_a_day_before_it() -> None:
    assert working_days_after(date(2026, 4, 2), date(2026, 4, 2)) == 0
    assert working_days_after(date(2026, 4, 8), date(2026, 4, 2)) == 0
    assert working_days_after(date(2026, 4, 2), date(2026, 4, 7)) == 2
