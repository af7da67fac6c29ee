from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agora_bridge.snapshots.settlement import (
    COUT_MAX_CENTS,
    TAUX_HORAIRE_MAX_CENTS,
    cout_pedagogique_cents,
    reglement,
    taux_realisation,
)

# Hours as AGORA receives them: at most 2 decimals, as integer hundredths here.
hundredths = st.integers(0, 500_000)


def hours(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


@given(hundredths, st.integers(1, 500_000))
def test_rate_is_the_floor_of_the_exact_ratio_capped_at_100(done: int, planned: int) -> None:
    assert taux_realisation(hours(done), hours(planned)) == min(100, 100 * done // planned)


@given(hundredths, st.integers(0, 100_000))
def test_cost_is_centre_hours_times_rate_rounded_half_up(centre: int, rate: int) -> None:
    # centre/100 h × rate cents = centre × rate / 100 cents; half-up on integers.
    assert cout_pedagogique_cents(hours(centre), rate) == (centre * rate + 50) // 100


@pytest.mark.parametrize(
    ("done", "planned", "rate"),
    [("840", "840", 100), ("839.99", "840", 99), ("900", "840", 100), ("0", "840", 0)],
)
def test_rate_examples(done: str, planned: str, rate: int) -> None:
    assert taux_realisation(Decimal(done), Decimal(planned)) == rate


def test_half_a_cent_rounds_up() -> None:
    assert cout_pedagogique_cents(Decimal("0.5"), 1) == 1  # 0.5 cent
    assert cout_pedagogique_cents(Decimal("0.01"), 50) == 1  # 0.5 cent
    assert cout_pedagogique_cents(Decimal("0.01"), 49) == 0


def test_company_hours_count_for_the_rate_but_are_not_billed() -> None:
    result = reglement(
        heures_centre=Decimal("800"),
        heures_entreprise=Decimal("40"),
        duree_heures=Decimal("840"),
        taux_horaire_cents=1250,
    )
    assert result.heures_realisees == Decimal("840")
    assert result.taux_realisation == 100
    assert result.cout_pedagogique_cents == 1_000_000


@pytest.mark.parametrize(
    ("centre", "rate", "cost"),
    [
        ("9999.99", 10**28, 99999900 * 10**24),  # 10^28: overflowed the default context
        ("0.01", 10**40 + 50, 10**38 + 1),  # half a cent, 40 digits further, still rounds up
        ("9999.99", TAUX_HORAIRE_MAX_CENTS, COUT_MAX_CENTS),
    ],
)
def test_the_cost_is_exact_whatever_the_size_of_the_numbers(
    centre: str, rate: int, cost: int
) -> None:
    assert cout_pedagogique_cents(Decimal(centre), rate) == cost
