"""The bridge's NIR and SIRET rules against python-stdnum's, on tens of thousands of numbers.

stdnum is an independent implementation (and the one the mock uses). The two must agree on
every generated number except for the differences documented in the docstrings of
`snapshots/nir.py` and `snapshots/siret.py`, each of which is named and exercised here:

- NIR: `FIRST_DIGIT` (stdnum takes 0, 5, 6, 9), `MONTH` (stdnum takes any two digits),
  `ORDER_000`, `SEXE` and `BIRTH_DATE` (agreement with the person, which stdnum cannot see).
  The bridge is never looser than stdnum.
- Normalisation: which separators are stripped and which digits count (tables at the end).
- SIRET: none on 14-character strings.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.fr import nir as stdnum_nir
from stdnum.fr import siret as stdnum_siret

from agora_bridge.snapshots.nir import NirVerdict, check_nir
from agora_bridge.snapshots.siret import is_valid_siret, luhn_check_digit, luhn_sum
from agora_bridge.synthetic.identity import valid_nir, valid_siret
from tests.snapshots.nirs import SPEC_MONTHS, with_key

SEED = 20261127
CASES = 30_000
NirCase = tuple[str, str, date]  # (nir, sexe, date_naissance)


def spec_only_rules(nir: str, sexe: str, born: date) -> set[str]:
    """The rules of `region-input.md` that stdnum does not check, on a NIR stdnum accepts."""
    first, year, month = nir[0], int(nir[1:3]), int(nir[3:5])
    broken = set()
    if first not in "123478":
        broken.add("FIRST_DIGIT")
    if month not in SPEC_MONTHS:
        broken.add("MONTH")
    if nir[10:13] == "000":
        broken.add("ORDER_000")
    if (first in "137" and sexe != "M") or (first in "248" and sexe != "F"):
        broken.add("SEXE")
    if first in "12" and (year != born.year % 100 or (month <= 12 and month != born.month)):
        broken.add("BIRTH_DATE")
    return broken


def compare(nir: str, sexe: str, born: date) -> str:
    """How the two implementations judged one NIR; fails on any undocumented difference."""
    ours = check_nir(nir, sexe=sexe, date_naissance=born) is NirVerdict.VALIDE
    theirs = stdnum_nir.is_valid(nir)
    broken = spec_only_rules(nir, sexe, born) if theirs else set()
    assert ours == (theirs and not broken), (nir, sexe, born, broken)
    return "+".join(sorted(broken)) or f"both {'valid' if ours else 'invalid'}"


def random_body(rng: random.Random) -> str:
    """Any body stdnum accepts: every first digit, month and place, order 000 included."""
    commune = f"{rng.randrange(1000):03d}"
    department = rng.choice([f"{rng.randrange(100):02d}", "2A", "2B", "97", "98", "99"])
    place = department + commune
    order = rng.choice(["000", f"{rng.randrange(1000):03d}"])
    return f"{rng.randrange(10)}{rng.randrange(100):02d}{rng.randrange(100):02d}{place}{order}"


def person(rng: random.Random, nir: str) -> tuple[str, date]:
    """Usually the person the NIR describes, sometimes anyone."""
    born = date(rng.randrange(1926, 2012), rng.randrange(1, 13), rng.randrange(1, 29))
    if rng.random() < 0.3:
        return rng.choice("MF"), born
    sexe = "M" if nir[0] in "1357" else "F"
    month = int(nir[3:5])
    year = 1900 + int(nir[1:3]) if int(nir[1:3]) > 11 else 2000 + int(nir[1:3])
    return sexe, date(year, month if 1 <= month <= 12 else born.month, born.day)


def mutated(rng: random.Random, nir: str) -> str:
    """One character changed, or two adjacent ones swapped: what a key must catch."""
    position = rng.randrange(14)
    if rng.random() < 0.2:
        return nir[:position] + nir[position + 1] + nir[position] + nir[position + 2 :]
    return nir[:position] + rng.choice("0123456789AB") + nir[position + 1 :]


def nir_cases(rng: random.Random, count: int) -> Iterator[NirCase]:
    for _ in range(count // 3):
        born = date(rng.randrange(1926, 2012), rng.randrange(1, 13), rng.randrange(1, 29))
        sexe = rng.choice("MF")
        yield valid_nir(rng, sexe=sexe, date_naissance=born), sexe, born
        nir = with_key(random_body(rng))
        yield (nir, *person(rng, nir))
        wrong = mutated(rng, nir)
        yield (wrong, *person(rng, nir))


def test_nir_rules_agree_with_stdnum_but_for_the_documented_differences() -> None:
    outcomes = Counter(compare(*case) for case in nir_cases(random.Random(SEED), CASES))
    seen: Counter[str] = Counter()
    for outcome, count in outcomes.items():
        for rule in outcome.split("+"):
            seen[rule] += count
    assert seen["both valid"] > CASES // 4
    assert seen["both invalid"] > CASES // 20
    for rule in ("FIRST_DIGIT", "MONTH", "ORDER_000", "SEXE", "BIRTH_DATE"):
        assert seen[rule] > 100, rule  # each documented difference was exercised


@given(
    st.text("0123456789", min_size=5, max_size=5),
    st.sampled_from([*(f"{d:02d}" for d in range(100)), "2A", "2B"]),
    st.text("0123456789", min_size=6, max_size=6),
    st.integers(0, 99),
    st.sampled_from("MF"),
    st.dates(date(1900, 1, 1), date(2099, 12, 31)),
)
def test_any_nir_shaped_string_agrees(
    head: str, dept: str, tail: str, key: int, sexe: str, born: date
) -> None:
    compare(f"{head}{dept}{tail}{key:02d}", sexe, born)


@pytest.mark.parametrize(
    ("raw", "ours", "theirs"),
    [
        ("1 85 05 78 006 084 91", True, True),
        ("1.85.05.78.006.084.91", True, True),
        ("1\u00a085\u202f05 78 006 084 91", True, True),  # stdnum reads both as spaces
        ("185052a00608482", False, False),  # 2A read in upper case by both, but a woman's key
        ("285052a00608482", True, True),
        ("1-85-05-78-006-084-91", True, False),  # stdnum keeps dashes
        ("1 85 05 78 006 084 – 91", True, False),
        ("1\t85\t05\t78\t006\t084\t91", True, False),  # stdnum strips tabs only at the ends
        ("185057800608491\n", True, True),
        ("1850578006084\n91", True, False),
        ("１８５０５７８００６０８４９１", False, True),  # stdnum reads full-width digits
        ("𝟏𝟖𝟓𝟎𝟓𝟕𝟖𝟎𝟎𝟔𝟎𝟖𝟒𝟗𝟏", False, True),  # and mathematical ones
        ("١٨٥٠٥٧٨٠٠٦٠٨٤٩١", False, False),  # neither reads Arabic-Indic digits
    ],
)
def test_nir_normalisation_differences(raw: str, ours: bool, theirs: bool) -> None:
    sexe = "F" if raw.startswith("2") else "M"
    verdict = check_nir(raw, sexe=sexe, date_naissance=date(1985, 5, 12))
    assert (verdict is NirVerdict.VALIDE) is ours
    assert stdnum_nir.is_valid(raw) is theirs


def siret_cases(rng: random.Random, count: int) -> Iterator[str]:
    """Valid SIRETs, La Poste's establishments, their one-digit mutations, and noise."""
    for _ in range(count // 4):
        good = valid_siret(rng)
        la_poste = f"356000000{rng.randrange(100_000):05d}"
        position = rng.randrange(14)
        yield good
        yield la_poste
        yield good[:position] + rng.choice("0123456789") + good[position + 1 :]
        yield f"{rng.randrange(10**14):014d}"


def test_siret_rules_agree_with_stdnum() -> None:
    verdicts: Counter[tuple[bool, bool]] = Counter()
    for siret in siret_cases(random.Random(SEED), CASES):
        assert is_valid_siret(siret) is stdnum_siret.is_valid(siret), siret
        verdicts[is_valid_siret(siret), siret.startswith("356000000")] += 1
    assert min(verdicts.values()) > 500, verdicts  # valid and invalid, La Poste and others


@pytest.mark.parametrize(
    "siret",
    [
        "35600000000048",  # La Poste's head office
        "35600000049837",
        "73282932000074",
        "73282932100072",  # Luhn-valid SIRET, SIREN not
        "7328293200007",
        "732829320000745",
        "7328293200007A",
        "",
    ],
)
def test_siret_examples_agree_with_stdnum(siret: str) -> None:
    assert is_valid_siret(siret) is stdnum_siret.is_valid(siret)


@pytest.mark.parametrize(
    "raw",
    ["732 829 320 00074", "732.829.320.00074", "７３２８２９３２００００７４", " 73282932000074"],
)
def test_siret_normalisation_difference(raw: str) -> None:
    # stdnum strips spaces and dots and reads full-width digits; a SIRET here is 14 ASCII digits.
    assert stdnum_siret.is_valid(raw)
    assert not is_valid_siret(raw)


@given(st.text("0123456789", max_size=30))
def test_luhn_agrees_with_stdnum(digits: str) -> None:
    assert luhn_sum(digits) % 10 == luhn.checksum(digits)
    assert luhn_check_digit(digits) == luhn.calc_check_digit(digits)
