from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agora_bridge.snapshots.siret import is_valid_siret, luhn_check_digit, luhn_sum


def with_luhn_digit(digits: str) -> str:
    """Completes `digits` by search, independently of `luhn_check_digit`."""
    for digit in "0123456789":
        if luhn_sum(digits + digit) % 10 == 0:
            return digits + digit
    raise AssertionError("a Luhn digit always exists")


def siret_of(eight: str, nic: str) -> str:
    """A SIRET whose SIREN (8 digits + key) and whole number both pass Luhn."""
    return with_luhn_digit(with_luhn_digit(eight) + nic)


eight_digits = st.text("0123456789", min_size=8, max_size=8).filter(lambda s: s != "35600000")
nics = st.text("0123456789", min_size=4, max_size=4)


@given(eight_digits, nics)
def test_a_completed_number_is_valid(eight: str, nic: str) -> None:
    assert is_valid_siret(siret_of(eight, nic))


@given(eight_digits, nics, st.integers(0, 13), st.sampled_from("0123456789"))
def test_any_single_digit_change_is_caught(eight: str, nic: str, position: int, digit: str) -> None:
    siret = siret_of(eight, nic)
    changed = siret[:position] + digit + siret[position + 1 :]
    if changed != siret and not changed.startswith("356000000"):
        assert not is_valid_siret(changed)


@given(eight_digits, st.text("0123456789", min_size=5, max_size=5))
def test_the_siren_must_pass_luhn_too(eight: str, rest: str) -> None:
    siren = with_luhn_digit(eight)
    wrong_siren = siren[:8] + str((int(siren[8]) + 1) % 10)
    siret = with_luhn_digit(wrong_siren + rest[:4])
    assert luhn_sum(siret) % 10 == 0
    assert not is_valid_siret(siret)


@given(st.text("0123456789", min_size=5, max_size=5))
def test_la_poste_establishments_use_a_digit_sum_multiple_of_five(nic: str) -> None:
    siret = "356000000" + nic
    if siret != "35600000000048":
        assert is_valid_siret(siret) == (sum(map(int, siret)) % 5 == 0)


@given(st.text("0123456789", max_size=20))
def test_the_check_digit_completes_any_number(digits: str) -> None:
    assert luhn_check_digit(digits) == with_luhn_digit(digits)[-1]


def independent_luhn_sum(digits: str) -> int:
    """Every second digit from the right doubled, the digits of the product added."""
    values = [int(c) for c in reversed(digits)]
    return sum(values[::2]) + sum(sum(divmod(2 * v, 10)) for v in values[1::2])


@pytest.mark.parametrize(
    ("digits", "total"),
    [
        ("", 0),
        ("0", 0),
        ("9", 9),  # the rightmost digit is not doubled
        ("40", 8),  # 4 doubled: 8
        ("50", 1),  # 5 doubled: 10 → 1
        ("90", 9),  # 9 doubled: 18 → 9
        ("79927398713", 70),  # the textbook example
        ("73282932000074", 50),  # 26 undoubled + 24 doubled
    ],
)
def test_luhn_sum_known_values(digits: str, total: int) -> None:
    assert luhn_sum(digits) == total


@given(st.text("0123456789", max_size=30))
def test_luhn_sum_matches_an_independent_computation(digits: str) -> None:
    assert luhn_sum(digits) == independent_luhn_sum(digits)


@pytest.mark.parametrize(
    ("siret", "valid"),
    [
        ("73282932000074", True),
        ("73282932000075", False),
        ("35600000000048", True),  # La Poste's head office: plain Luhn
        ("35600000049837", True),  # an establishment: digit sum 45
        ("35600000049838", False),
        ("35600000001004", False),  # passes Luhn, but an establishment needs the digit sum
        ("73282932100072", False),  # passes Luhn over 14 digits, but SIREN 732829321 does not
        ("7328293200007", False),
        ("7328293200007A", False),
        ("７３２８２９３２００００７４", False),  # full-width digits are not ASCII
        ("٧٣٢٨٢٩٣٢٠٠٠٠٧٤", False),  # nor are Arabic-Indic ones
    ],
)
def test_examples(siret: str, valid: bool) -> None:
    assert is_valid_siret(siret) is valid
