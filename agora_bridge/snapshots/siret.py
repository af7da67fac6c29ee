"""SIRET rules of `region-input.md`: Luhn over the 14 digits and over the SIREN (the first 9).

La Poste numbers its thousands of establishments under one SIREN beyond what Luhn allows:
INSEE checks them, but the head office, by a plain digit sum that must be a multiple of 5.
The SIREN check applies to them too (`356000000` passes Luhn).

The same rules as python-stdnum's `stdnum.fr.siret` on 14-character strings
(`tests/snapshots/test_stdnum_crosscheck.py`), with one difference: stdnum first strips
spaces and dots and reads full-width and mathematical digits as digits; here a SIRET is
exactly 14 ASCII digits.
"""

from functools import lru_cache

_LA_POSTE_SIREN = "356000000"
_LA_POSTE_HEAD_OFFICE = "35600000000048"


def luhn_sum(digits: str) -> int:
    """The Luhn sum: every second digit from the right doubled (minus 9 past 9)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total


def luhn_check_digit(digits: str) -> str:
    """The digit that, appended to `digits`, makes a number passing Luhn."""
    return str(-luhn_sum(digits + "0") % 10)


def _passes_luhn(digits: str) -> bool:
    return luhn_sum(digits) % 10 == 0


# An export names a few hundred organisations for hundreds of thousands of dossiers: the
# verdict of each SIRET seen is kept (a pure function of the string, bounded memory).
@lru_cache(maxsize=8192)
def is_valid_siret(siret: str) -> bool:
    if len(siret) != 14 or not siret.isascii() or not siret.isdigit():
        return False
    if siret.startswith(_LA_POSTE_SIREN) and siret != _LA_POSTE_HEAD_OFFICE:
        establishment_ok = sum(int(c) for c in siret) % 5 == 0
    else:
        establishment_ok = _passes_luhn(siret)
    return establishment_ok and _passes_luhn(siret[:9])
