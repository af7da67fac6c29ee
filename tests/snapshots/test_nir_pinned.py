"""The NIR rules of `region-input.md` pinned value by value (mutation testing found them loose).

Every expected value here is written from the spec, never computed by `nir.py`: a change to
one boundary (a month, a first digit, the key's modulus) fails a test.
"""

from __future__ import annotations

import sys
import unicodedata
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agora_bridge.snapshots.nir import (
    DASHES,
    WHITE_SPACE,
    NirVerdict,
    agrees_with_person,
    body_is_well_formed,
    check_nir,
    nir_for_agora,
    nir_key,
    normalise_nir,
)
from tests.snapshots.nirs import SPEC_MONTHS, with_key

BORN = date(1985, 5, 12)  # matches the bodies "185 05 …" below
VALID = "185057800608491"


def verdict(body: str, sexe: str = "M", born: date = BORN) -> NirVerdict:
    return check_nir(with_key(body), sexe=sexe, date_naissance=born)


@pytest.mark.parametrize("month", range(100))
def test_the_structure_accepts_exactly_the_spec_months(month: int) -> None:
    # First digit 7: a provisional number, so the birth date does not interfere.
    body = f"785{month:02d}78006084"
    assert body_is_well_formed(body) is (month in SPEC_MONTHS)


@pytest.mark.parametrize(
    ("month", "expected"),
    [
        ("12", NirVerdict.VALIDE),
        ("20", NirVerdict.VALIDE),
        ("30", NirVerdict.VALIDE),
        ("42", NirVerdict.VALIDE),
        ("50", NirVerdict.VALIDE),
        ("99", NirVerdict.VALIDE),
        ("00", NirVerdict.NIR_INVALIDE),
        ("13", NirVerdict.NIR_INVALIDE),
        ("19", NirVerdict.NIR_INVALIDE),
        ("21", NirVerdict.NIR_INVALIDE),
        ("29", NirVerdict.NIR_INVALIDE),
        ("43", NirVerdict.NIR_INVALIDE),
        ("49", NirVerdict.NIR_INVALIDE),
    ],
)
def test_boundary_months_through_check_nir(month: str, expected: NirVerdict) -> None:
    born = date(1985, 12, 1) if month == "12" else BORN
    assert verdict(f"185{month}78006084", born=born) is expected


@pytest.mark.parametrize("month", range(1, 13))
def test_a_real_month_must_be_the_birth_month(month: int) -> None:
    body = f"185{month:02d}78006084"
    for birth_month in range(1, 13):
        expected = NirVerdict.VALIDE if birth_month == month else NirVerdict.NIR_INVALIDE
        assert verdict(body, born=date(1985, birth_month, 28)) is expected, birth_month


@pytest.mark.parametrize("month", [20, 30, 42, 50, 99])
def test_a_conventional_month_agrees_with_any_birth_month(month: int) -> None:
    for birth_month in range(1, 13):
        assert verdict(f"185{month}78006084", born=date(1985, birth_month, 1)) is NirVerdict.VALIDE


def test_month_13_is_not_compared_with_the_birth_month() -> None:
    # The mock calls agrees_with_person on its own: only months 01-12 are compared.
    assert agrees_with_person("1851378006084", sexe="M", date_naissance=BORN)


@pytest.mark.parametrize(
    ("born", "expected"),
    [
        (date(1985, 5, 12), NirVerdict.VALIDE),
        (date(1885, 5, 12), NirVerdict.VALIDE),  # only the last two digits are written
        (date(2085, 5, 12), NirVerdict.VALIDE),
        (date(1984, 5, 12), NirVerdict.NIR_INVALIDE),
        (date(1986, 5, 12), NirVerdict.NIR_INVALIDE),
    ],
)
def test_the_year_is_the_birth_years_last_two_digits(born: date, expected: NirVerdict) -> None:
    assert verdict("1850578006084", born=born) is expected


def test_a_year_00_is_born_in_2000() -> None:
    assert verdict("2000578006084", "F", date(2000, 5, 1)) is NirVerdict.VALIDE
    assert verdict("2000578006084", "F", date(2001, 5, 1)) is NirVerdict.NIR_INVALIDE


@pytest.mark.parametrize("first", "0569")
def test_first_digits_outside_the_spec_are_refused_by_the_structure(first: str) -> None:
    body = f"{first}850578006084"
    assert not body_is_well_formed(body)
    # Whichever sex: the structure rule refuses it, not only the sex check.
    assert verdict(body, "F") is NirVerdict.NIR_INVALIDE
    assert verdict(body, "M") is NirVerdict.NIR_INVALIDE


SEXES = [*((d, "M") for d in "137"), *((d, "F") for d in "248")]


@pytest.mark.parametrize(("first", "sexe"), SEXES)
def test_the_first_digit_gives_the_sex(first: str, sexe: str) -> None:
    body = f"{first}850578006084"
    other = "F" if sexe == "M" else "M"
    assert body_is_well_formed(body)
    assert verdict(body, sexe) is NirVerdict.VALIDE
    assert verdict(body, other) is NirVerdict.NIR_INVALIDE


@pytest.mark.parametrize("first", "3478")
def test_provisional_numbers_skip_the_birth_date(first: str) -> None:
    sexe = "M" if first in "37" else "F"
    assert verdict(f"{first}990178006084", sexe, date(1985, 5, 12)) is NirVerdict.VALIDE


@pytest.mark.parametrize(
    "body",
    [
        "185052A006084",
        "185052B006084",
        "185052b006084",  # upper-cased first
        "1850520006084",  # Corsica before 1976
        "1850597105084",  # overseas 97x
        "1850598805084",  # overseas 98x
        "1850599135084",  # born abroad: 99 + country
    ],
)
def test_valid_birth_places(body: str) -> None:
    nir = body + with_key(body.upper())[13:]
    assert check_nir(nir, sexe="M", date_naissance=BORN) is NirVerdict.VALIDE


@pytest.mark.parametrize(
    "body",
    [
        "185052C006084",
        "18505A2006084",
        "185053A006084",
        "1850578A06084",  # letters only in the department
        "18505780060A4",
    ],
)
def test_misplaced_letters_are_refused_whatever_the_key(body: str) -> None:
    assert not body_is_well_formed(body)
    for key in range(1, 98):
        nir = f"{body}{key:02d}"
        assert check_nir(nir, sexe="M", date_naissance=BORN) is NirVerdict.NIR_INVALIDE


def test_order_000_is_refused() -> None:
    assert not body_is_well_formed("1850578006000")
    assert verdict("1850578006000") is NirVerdict.NIR_INVALIDE


@pytest.mark.parametrize("order", ["001", "999"])
def test_orders_001_and_999_are_valid(order: str) -> None:
    assert verdict(f"1850578006{order}") is NirVerdict.VALIDE


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("1850578006084", "91"),  # region-input.md's example
        ("1850578006069", "09"),  # written on two digits
        ("1850578006077", "01"),
        ("1850578006078", "97"),  # N mod 97 = 0
        ("285052A006084", "82"),  # 2A counts as 19
        ("285052B006084", "12"),  # 2B counts as 18
    ],
)
def test_known_keys(body: str, key: str) -> None:
    assert nir_key(body) == key
    assert with_key(body)[13:] == key


def test_a_key_off_by_one_either_way_is_refused() -> None:
    for key in ("90", "92"):
        assert check_nir("1850578006084" + key, sexe="M", date_naissance=BORN) is (
            NirVerdict.NIR_INVALIDE
        )


def all_characters() -> list[str]:
    return [chr(code) for code in range(sys.maxunicode + 1)]


def test_white_space_is_unicode_white_space() -> None:
    # str.isspace() also takes U+001C-U+001F, which are control characters, not white space.
    expected = {c for c in all_characters() if c.isspace()} - set("\x1c\x1d\x1e\x1f")
    assert set(WHITE_SPACE) == expected


def test_dashes_are_unicode_dash_punctuation() -> None:
    assert set(DASHES) == {c for c in all_characters() if unicodedata.category(c) == "Pd"}


@pytest.mark.parametrize(
    "raw",
    [
        "1\t85\t05\t78\t006\t084\t91",
        "1850578006084\r\n91",
        "1\u00a085\u00a005\u00a078\u00a0006\u00a0084\u00a091",  # no-break space
        "1\u202f85\u202f05\u202f78\u202f006\u202f084\u202f91",  # narrow no-break space
        "1 85 05 78 006 084 – 91",  # en dash
        "1‑85‑05‑78‑006‑084‑91",  # non-breaking hyphen
        "1.85.05.78.006.084-91",
        "\u3000185057800608491\u2028",
    ],
)
def test_every_separator_of_the_spec_is_stripped(raw: str) -> None:
    assert normalise_nir(raw) == VALID
    assert check_nir(raw, sexe="M", date_naissance=BORN) is NirVerdict.VALIDE
    assert nir_for_agora(raw) == VALID[:13]


@pytest.mark.parametrize("control", ["\x00", "\x1c", "\x1f", "\x7f", "\u200b", "_", "/", ","])
def test_other_characters_are_not_separators(control: str) -> None:
    raw = VALID[:7] + control + VALID[7:]
    assert normalise_nir(raw) == raw
    assert check_nir(raw, sexe="M", date_naissance=BORN) is NirVerdict.NIR_INVALIDE


@pytest.mark.parametrize("raw", ["\t", "\r\n", "\u00a0\u202f", " - . – "])
def test_separators_alone_are_an_absent_nir(raw: str) -> None:
    assert check_nir(raw, sexe="M", date_naissance=BORN) is NirVerdict.NIR_ABSENT


@given(
    st.integers(0, 15),
    st.characters(min_codepoint=0x80).filter(lambda c: c not in WHITE_SPACE + DASHES),
)
def test_no_other_non_ascii_character_leaves_a_nir_valid(position: int, char: str) -> None:
    # upper() turns a few letters into ASCII ("ı" → "I", "ß" → "SS"): never into a digit.
    raw = VALID[:position] + char + VALID[position:]
    assert check_nir(raw, sexe="M", date_naissance=BORN) is NirVerdict.NIR_INVALIDE


@pytest.mark.parametrize(
    "digits",
    ["１８５０５７８００６０８４９１", "١٨٥٠٥٧٨٠٠٦٠٨٤٩١", "𝟏𝟖𝟓𝟎𝟓𝟕𝟖𝟎𝟎𝟔𝟎𝟖𝟒𝟗𝟏"],
)
def test_only_ascii_digits_count(digits: str) -> None:
    assert check_nir(digits, sexe="M", date_naissance=BORN) is NirVerdict.NIR_INVALIDE
