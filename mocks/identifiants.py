"""The NIR and the SIRET as AGORA checks them, with python-stdnum, not the bridge's code.

The bridge checks the same rules (`region-input.md`) with its own functions before sending
(`agora_bridge/snapshots/nir.py`, `siret.py`). Two independent implementations: a bug on
either side shows up as a rejection, and `tests/mocks/test_identifiants.py` compares them.

What python-stdnum (2.x) checks, and what the spec adds here:

- `stdnum.fr.nir.validate` reads the 15 characters: digits except positions 6-7 (`2A`/`2B`),
  the length, the key. AGORA receives 13 characters, so the key is computed with stdnum's
  `calc_check_digits` and the 15 characters validated, which leaves stdnum the format.
- stdnum accepts every structure the spec allows, the provisional first digits 3, 4, 7, 8 and
  the conventional months 20, 30-42, 50-99 included (a test pins it), but also what the spec
  refuses: first digits 0, 5, 6, 9; months 00, 13-19, 21-29, 43-49; order `000`. The spec's
  rules for those follow below, with the agreement with `sexe` and `date_naissance`, which
  stdnum cannot know.
- `stdnum.fr.siret.validate` is the spec's rule exactly: Luhn over the 14 digits, La Poste's
  establishments (SIREN `356000000`, head office `35600000000048` aside) by a digit sum
  multiple of 5, and the SIREN's own Luhn (`stdnum.fr.siren`). Only its tolerance of spaces
  and dots is closed off: the contract wants 14 digits.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from stdnum.exceptions import ValidationError
from stdnum.fr import nir as stdnum_nir
from stdnum.fr import siret as stdnum_siret

_NIR_13 = re.compile(r"[0-9]{5}(?:[0-9]{2}|2[AB])[0-9]{6}")
_SIRET = re.compile(r"[0-9]{14}")
# The first digit: 1/2 NIRs proper, 3/4 provisional, 7/8 waiting numbers (men/women).
_FIRST_DIGITS = {"M": frozenset("137"), "F": frozenset("248")}


def _month_is_allowed(month: int) -> bool:
    # 01-12; 20, 30-42 and 50-99 are the unknown or conventional months of the spec.
    return 1 <= month <= 12 or month == 20 or 30 <= month <= 42 or month >= 50


def nir_is_well_formed(nir: str) -> bool:
    """The 13-character NIR's structure: stdnum's format check, then the spec's own rules."""
    if not _NIR_13.fullmatch(nir):  # stdnum would also take spaces, dots, or the key
        return False
    try:
        stdnum_nir.validate(nir + stdnum_nir.calc_check_digits(nir))
    except ValidationError:
        return False
    first_digits = _FIRST_DIGITS["M"] | _FIRST_DIGITS["F"]
    return nir[0] in first_digits and _month_is_allowed(int(nir[3:5])) and nir[10:] != "000"


def nir_agrees(nir: str, *, sexe: str, date_naissance: date) -> bool:
    """The first digit gives the sex; a NIR proper (1, 2) the birth year and real month."""
    if nir[0] not in _FIRST_DIGITS[sexe]:
        return False
    if nir[0] not in "12":
        return True  # provisional and waiting numbers carry no reliable birth date
    month = int(nir[3:5])
    same_month = not 1 <= month <= 12 or month == date_naissance.month
    return int(nir[1:3]) == date_naissance.year % 100 and same_month


def nir_is_valid(nir: str, *, sexe: str, date_naissance: date) -> bool:
    return nir_is_well_formed(nir) and nir_agrees(nir, sexe=sexe, date_naissance=date_naissance)


# A backfill names a few hundred training organisations for a million dossiers, and stdnum
# takes about 15 µs a SIRET: remembered, the verdicts cost nothing to a 10,000-line lot.
@lru_cache(maxsize=4096)
def siret_is_valid(siret: str) -> bool:
    return bool(_SIRET.fullmatch(siret)) and stdnum_siret.is_valid(siret)
