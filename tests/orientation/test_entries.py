"""The 3-working-day rule on declared entries."""

from __future__ import annotations

from datetime import date

from agora_bridge.orientation.entries import Ecart, EntreeDeclaree, ecarts


def entree(date_entree: date, declaree_le: date, dossier: date | None = None) -> EntreeDeclaree:
    return EntreeDeclaree("o-1", date_entree, declaree_le, dossier)


def test_an_entry_declared_on_the_third_working_day_is_on_time() -> None:
    # Thursday 2 April 2026: Fri 3, (Easter Monday 6 off), Tue 7, Wed 8 is the third day.
    on_time = entree(date(2026, 4, 2), date(2026, 4, 8), date(2026, 4, 2))
    assert ecarts(on_time, date(2026, 6, 1)) == []


def test_an_entry_declared_on_the_fourth_working_day_is_late() -> None:
    late = entree(date(2026, 4, 2), date(2026, 4, 9), date(2026, 4, 2))
    assert ecarts(late, date(2026, 6, 1)) == [Ecart.DECLARATION_TARDIVE]


def test_the_region_dossier_date_decides_when_matched() -> None:
    # Declared entry on 7 April, but the Région's dossier says it happened on 1 April.
    declared = entree(date(2026, 4, 7), date(2026, 4, 8), date(2026, 4, 1))
    assert ecarts(declared, date(2026, 6, 1)) == [Ecart.DECLARATION_TARDIVE]


def test_an_unmatched_entry_counts_after_three_working_days() -> None:
    # Monday 13 July 2026, 14 July off: Wed 15, Thu 16, Fri 17 are the three days.
    unmatched = entree(date(2026, 7, 13), date(2026, 7, 13))
    assert ecarts(unmatched, date(2026, 7, 17)) == []
    assert ecarts(unmatched, date(2026, 7, 20)) == [Ecart.SANS_DOSSIER_REGION]


def test_late_and_unmatched_over_the_year_end() -> None:
    # Wednesday 30 December 2026: Thu 31, (1 January off), Mon 4, Tue 5, Wed 6 is the fourth.
    both = entree(date(2026, 12, 30), date(2027, 1, 6))
    assert ecarts(both, date(2027, 1, 6)) == [
        Ecart.DECLARATION_TARDIVE,
        Ecart.SANS_DOSSIER_REGION,
    ]
