from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agora_bridge.snapshots.nir import (
    NirVerdict,
    body_is_well_formed,
    check_nir,
    nir_for_agora,
    nir_key,
    normalise_nir,
)

MONTHS = [f"{m:02d}" for m in [*range(1, 13), 20, *range(30, 43), *range(50, 100)]]


@st.composite
def nir_bodies(draw: st.DrawFn) -> str:
    """Any 13-character body the structure rules accept."""
    first = draw(st.sampled_from("123478"))
    year = draw(st.integers(0, 99))
    month = draw(st.sampled_from(MONTHS))
    dept = draw(st.sampled_from([f"{d:02d}" for d in range(100)] + ["2A", "2B"]))
    commune = draw(st.integers(0, 999))
    order = draw(st.integers(1, 999))
    return f"{first}{year:02d}{month}{dept}{commune:03d}{order:03d}"


def well_formed(nir: str) -> bool:
    return len(nir) == 15 and body_is_well_formed(nir[:13]) and nir[13:] == nir_key(nir[:13])


def test_key_of_the_documented_example() -> None:
    assert nir_key("1850578006084") == "91"


def test_corsican_departments_count_as_19_and_18() -> None:
    assert nir_key("185052A006084") == nir_key("1850519006084")
    assert nir_key("185052B006084") == nir_key("1850518006084")


@given(nir_bodies())
def test_any_valid_body_gets_a_two_digit_key_that_validates(body: str) -> None:
    key = nir_key(body)
    assert len(key) == 2
    assert 1 <= int(key) <= 97
    assert well_formed(body + key)


@given(nir_bodies(), st.integers(0, 14), st.sampled_from("0123456789AB"))
def test_any_single_character_change_is_caught(body: str, position: int, char: str) -> None:
    nir = body + nir_key(body)
    changed = nir[:position] + char + nir[position + 1 :]
    if changed != nir:
        assert not well_formed(changed)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1 85 05 78 006 084 91", "185057800608491"),
        ("1.85.05.78.006.084-91", "185057800608491"),
        ("285052a00608412", "285052A00608412"),
    ],
)
def test_normalisation_strips_separators_and_upper_cases(raw: str, expected: str) -> None:
    assert normalise_nir(raw) == expected


def check(raw: str | None, sexe: str = "M", born: date = date(1985, 5, 12)) -> NirVerdict:
    return check_nir(raw, sexe=sexe, date_naissance=born)


def with_key(body: str) -> str:
    return body + nir_key(body)


def test_a_valid_nir_with_spaces_is_valid() -> None:
    assert check("1 85 05 78 006 084 91") is NirVerdict.VALIDE


@pytest.mark.parametrize("raw", [None, "", "  ", " . - "])
def test_no_nir_is_absent(raw: str | None) -> None:
    assert check(raw) is NirVerdict.NIR_ABSENT


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("185057800608492", "wrong key"),
        ("18505780060849", "14 characters"),
        ("1850578006084911", "16 characters"),
        (with_key("5850578006084"), "first digit 5"),
        (with_key("1851378006084"), "month 13"),
        (with_key("1854378006084"), "month 43"),
        (with_key("1850578006000"), "order 000"),
        ("185052C00608401", "department 2C"),
        (with_key("2850578006084"), "a woman's number for a man"),
        (with_key("1860578006084"), "year disagrees with the birth date"),
        (with_key("1850678006084"), "month disagrees with the birth date"),
        ("18505780060849I", "letter in the key"),
    ],
)
def test_invalid_nirs(raw: str, why: str) -> None:
    assert check(raw) is NirVerdict.NIR_INVALIDE, why


@pytest.mark.parametrize(
    ("body", "sexe", "born"),
    [
        ("1852078006084", "M", date(1985, 5, 12)),  # unknown month 20
        ("1853578006084", "M", date(1985, 5, 12)),  # conventional month 35
        ("1850599135084", "M", date(1985, 5, 12)),  # born abroad
        ("1850597105084", "M", date(1985, 5, 12)),  # overseas department
        ("285052A006084", "F", date(1985, 5, 12)),  # Corsica
        ("7990178006084", "M", date(1985, 5, 12)),  # NIA: year and month not checked
        ("4121378006084", "F", date(1985, 5, 12)),  # NIA with month 13 is out of the rules
    ],
)
def test_valid_variants(body: str, sexe: str, born: date) -> None:
    expected = NirVerdict.NIR_INVALIDE if body[3:5] == "13" else NirVerdict.VALIDE
    assert check(with_key(body), sexe, born) is expected


def test_provisional_numbers_still_check_the_sex() -> None:
    assert check(with_key("3990178006084"), "F") is NirVerdict.NIR_INVALIDE
    assert check(with_key("8990178006084"), "F") is NirVerdict.VALIDE


def test_agora_receives_thirteen_characters() -> None:
    assert nir_for_agora("1 85 05 78 006 084 91") == "1850578006084"


def test_without_a_sex_only_the_birth_date_is_compared() -> None:
    """An orientation's candidate has no sex: either first digit agrees, the date still counts."""
    born = date(1985, 5, 12)
    for body in ("1850578006084", "2850578006084", "7990178006084"):
        assert check_nir(with_key(body), sexe=None, date_naissance=born) is NirVerdict.VALIDE
    for body in ("1860578006084", "2850678006084"):
        assert check_nir(with_key(body), sexe=None, date_naissance=born) is NirVerdict.NIR_INVALIDE
    assert check_nir("1850578006084 00", sexe=None, date_naissance=born) is NirVerdict.NIR_INVALIDE
