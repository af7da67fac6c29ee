"""The mock's NIR and SIRET checks (python-stdnum) against the spec and the bridge's own.

Two implementations of one rule: where they disagree, one of them is wrong.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.fr import nir as stdnum_nir

from agora_bridge.snapshots.nir import agrees_with_person, body_is_well_formed
from agora_bridge.snapshots.siret import is_valid_siret
from mocks.identifiants import nir_agrees, nir_is_valid, nir_is_well_formed, siret_is_valid
from tests.mocks.builders import NIR, changed, creation
from tests.mocks.harness import Agora

BORN = date(1985, 5, 12)
# The spec's months: real, then unknown or conventional.
ALLOWED_MONTHS = [f"{m:02d}" for m in (*range(1, 13), 20, *range(30, 43), *range(50, 100))]


def nir(first: str = "1", year: str = "85", month: str = "05", place: str = "78006") -> str:
    """A 13-character NIR from its parts (order 084 unless `place` carries more)."""
    return f"{first}{year}{month}{place}084"[:13]


@st.composite
def near_nirs(draw: st.DrawFn) -> str:
    """13-character NIRs, well formed or breaking one structural rule."""
    first = draw(st.sampled_from("0123456789"))
    year, month = draw(st.integers(0, 99)), draw(st.integers(0, 99))
    department = draw(st.sampled_from(["2A", "2B", "20", "44", "97", "99"]))
    commune, order = draw(st.integers(0, 999)), draw(st.integers(0, 999))
    return f"{first}{year:02d}{month:02d}{department}{commune:03d}{order:03d}"


@pytest.mark.parametrize(
    "body",
    [
        *(nir(month=month) for month in ALLOWED_MONTHS),
        *(nir(first) for first in "23478"),
        nir(place="2A006"),
        nir(place="2B006"),
        nir(place="99134"),
    ],
)
def test_stdnum_accepts_every_structure_the_spec_allows(body: str) -> None:
    # mocks/identifiants.py relies on it: stdnum is the format check, the spec's rules follow.
    assert stdnum_nir.is_valid(body + stdnum_nir.calc_check_digits(body))
    assert nir_is_well_formed(body)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        *((nir(first), f"first digit {first}") for first in "0569"),
        *((nir(month=month), f"month {month}") for month in ("00", "13", "19", "21", "29", "43")),
        (nir(month="49"), "month 49"),
        (NIR[:10] + "000", "order 000"),
        (NIR[:5] + "2C" + NIR[7:], "department 2C"),
        (NIR + "84", "the key sent along"),
        (NIR[:6] + " " + NIR[7:], "a space"),
    ],
)
def test_what_stdnum_lets_through_the_spec_refuses(body: str, why: str) -> None:
    assert not nir_is_well_formed(body), why


@pytest.mark.parametrize(
    ("body", "sexe", "born", "agrees"),
    [
        (nir("1"), "M", BORN, True),
        (nir("2"), "F", BORN, True),
        (nir("1"), "F", BORN, False),
        (nir("2"), "M", BORN, False),
        (nir("3"), "M", BORN, True),
        (nir("4"), "F", BORN, True),
        (nir("7"), "M", BORN, True),
        (nir("8"), "F", BORN, True),
        (nir("7"), "F", BORN, False),
        (nir("8"), "M", BORN, False),
        (nir("1"), "M", date(1986, 5, 12), False),  # year
        (nir("1"), "M", date(2085, 5, 12), True),  # the last two digits only
        (nir("1"), "M", date(1985, 6, 12), False),  # a real month must match
        (nir("1", month="20"), "M", date(1985, 6, 12), True),  # a conventional one need not
        (nir("1", month="99"), "M", date(1985, 6, 12), True),
        (nir("3", year="00", month="01"), "M", BORN, True),  # provisional: sex only
    ],
)
def test_a_nir_agrees_with_sex_and_birth_date(
    body: str, sexe: str, born: date, agrees: bool
) -> None:
    assert nir_agrees(body, sexe=sexe, date_naissance=born) is agrees


@st.composite
def birth_dates(draw: st.DrawFn, body: str) -> date:
    """Often the body's own year, and month or not, so that agreement is tried both ways."""
    if draw(st.booleans()):
        return draw(st.dates(date(1920, 1, 1), date(2011, 12, 31)))
    month = int(body[3:5])
    own_month = 1 <= month <= 12 and draw(st.booleans())
    birth_month = month if own_month else draw(st.integers(1, 12))
    return date(draw(st.sampled_from([1900, 2000])) + int(body[1:3]), birth_month, 1)


@settings(max_examples=500, deadline=None)
@given(data=st.data(), body=near_nirs(), sexe=st.sampled_from(["M", "F"]))
def test_the_mock_and_the_bridge_judge_a_nir_alike(
    data: st.DataObject, body: str, sexe: str
) -> None:
    born = data.draw(birth_dates(body))
    bridge = body_is_well_formed(body) and agrees_with_person(body, sexe=sexe, date_naissance=born)
    assert nir_is_valid(body, sexe=sexe, date_naissance=born) is bridge


@pytest.mark.parametrize(
    ("siret", "valid"),
    [
        ("73282932000074", True),
        ("73282932000075", False),  # Luhn
        ("73282932100007", False),  # Luhn over 14 digits, but not over the SIREN 732829321
        ("35600000000048", True),  # La Poste's head office: Luhn
        ("35600000000010", True),  # an establishment: digit sum 15, a multiple of 5
        ("35600000012340", False),  # Luhn-valid, digit sum 24
        ("7328293200007", False),
        ("7328 293200074", False),  # stdnum would strip the space
        ("7328293200007A", False),
    ],
)
def test_a_siret_follows_the_spec(siret: str, valid: bool) -> None:
    assert siret_is_valid(siret) is valid


@st.composite
def sirets_of_valid_sirens(draw: st.DrawFn) -> str:
    """14 digits whose SIREN passes Luhn, the 14th digit right or wrong."""
    eight = draw(
        st.sampled_from(["35600000", *(f"{n:08d}" for n in range(10_000_000, 10_000_100))])
    )
    siren = eight + luhn.calc_check_digit(eight)
    return siren + draw(st.from_regex(r"[0-9]{5}", fullmatch=True))


@settings(max_examples=300, deadline=None)
@given(siret=sirets_of_valid_sirens())
def test_the_mock_and_the_bridge_judge_a_siret_alike(siret: str) -> None:
    # Among SIRETs whose SIREN passes Luhn: the SIREN rule is new in the spec (CHANGES.md,
    # 2026-11-27), and the bridge's side of it is another change of the same issue.
    assert siret_is_valid(siret) is is_valid_siret(siret)


async def test_a_siret_whose_siren_fails_luhn_is_siret_invalide(agora: Agora) -> None:
    body = changed(creation(), "organisme.siret", "73282932100007")
    response = await agora.call("POST", "/dossiers", body, key="k")
    assert response.status_code == 422
    assert response.json()["code"] == "SIRET_INVALIDE"
