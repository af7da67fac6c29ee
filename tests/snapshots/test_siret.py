from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agora_bridge.snapshots.siret import is_valid_siret, luhn_sum


def with_luhn_digit(thirteen: str) -> str:
    for digit in "0123456789":
        if luhn_sum(thirteen + digit) % 10 == 0:
            return thirteen + digit
    raise AssertionError("a Luhn digit always exists")


thirteen_digits = st.text("0123456789", min_size=13, max_size=13).filter(
    lambda s: not s.startswith("356000000")
)


@given(thirteen_digits)
def test_a_completed_number_is_valid(thirteen: str) -> None:
    assert is_valid_siret(with_luhn_digit(thirteen))


@given(thirteen_digits, st.integers(0, 13), st.sampled_from("0123456789"))
def test_any_single_digit_change_is_caught(thirteen: str, position: int, digit: str) -> None:
    siret = with_luhn_digit(thirteen)
    changed = siret[:position] + digit + siret[position + 1 :]
    if changed != siret and not changed.startswith("356000000"):
        assert not is_valid_siret(changed)


@given(st.text("0123456789", min_size=5, max_size=5))
def test_la_poste_establishments_use_a_digit_sum_multiple_of_five(nic: str) -> None:
    siret = "356000000" + nic
    if siret != "35600000000048":
        assert is_valid_siret(siret) == (sum(map(int, siret)) % 5 == 0)


@pytest.mark.parametrize(
    ("siret", "valid"),
    [
        ("73282932000074", True),
        ("73282932000075", False),
        ("35600000000048", True),  # La Poste's head office: plain Luhn
        ("35600000049837", True),  # an establishment: digit sum 45
        ("35600000049838", False),
        ("7328293200007", False),
        ("7328293200007A", False),
        ("７３２８２９３２００００７４", False),  # full-width digits are not ASCII
    ],
)
def test_examples(siret: str, valid: bool) -> None:
    assert is_valid_siret(siret) is valid
