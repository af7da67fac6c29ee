"""NIR (numéro d'inscription au répertoire) rules of `region-input.md`.

Nothing here logs or formats a NIR into a message: callers get a verdict, never the value.

Compared with python-stdnum's `stdnum.fr.nir` (`tests/snapshots/test_stdnum_crosscheck.py`
checks that these are the only differences):

- stdnum checks the characters, the length and the key only. The spec also requires a first
  digit in 1–4, 7, 8 (stdnum takes 0, 5, 6, 9), a month in 01–12, 20, 30–42 or 50–99 (stdnum
  takes any two digits), an order other than `000`, and agreement with `sexe` and the birth
  date: all of these make NIRs that stdnum accepts `NIR_INVALIDE` here.
- Normalisation. stdnum strips spaces (including U+00A0 and U+202F) and dots anywhere but tabs
  and line breaks only at the ends, keeps dashes (so refuses them), and reads full-width and
  mathematical digits as digits. Here every white space, dot and dash goes, and only ASCII
  digits count: NIRs are digits, whatever a form pasted them from.
"""

from __future__ import annotations

import re
from datetime import date

from agora_bridge.snapshots.codes import Motif

# 13-character body: sex, year, month, department (digits or 2A/2B), commune, order.
_BODY = re.compile(
    r"(?P<sexe>[123478])(?P<annee>[0-9]{2})(?P<mois>[0-9]{2})"
    r"(?P<dept>[0-9]{2}|2A|2B)(?P<commune>[0-9]{3})(?P<ordre>[0-9]{3})"
)
# "Every kind of white space" is Unicode's White_Space property. Not `str.isspace()`, which
# also takes U+001C–U+001F: control characters, which must leave the text field invalid.
WHITE_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
# "Dashes": every character of Unicode's Dash_Punctuation category (Pd), so that a hyphen or
# an en dash a word processor put in (as it puts U+202F) does not hold a valid NIR.
DASHES = (
    "-\u058a\u05be\u1400\u1806\u2010\u2011\u2012\u2013\u2014\u2015\u2e17\u2e1a\u2e3a\u2e3b"
    "\u2e40\u2e5d\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d\U00010ead"
)
_SEPARATORS = str.maketrans("", "", WHITE_SPACE + "." + DASHES)
_MALE_FIRST_DIGITS = frozenset("137")


class NirVerdict(Motif):
    """The NIR's verdict; the two others than `VALIDE` hold the dossier (`perimeter.classify`)."""

    VALIDE = "VALIDE", "NIR valide : le dossier peut être envoyé."
    NIR_ABSENT = (
        "NIR_ABSENT",
        "Le stagiaire n'a pas de NIR (champ nul ou vide) : le dossier attend une version qui en"
        " porte un.",
    )
    NIR_INVALIDE = (
        "NIR_INVALIDE",
        "Le NIR enfreint une règle de structure, de clé ou d'accord avec le sexe et la date de"
        " naissance : le dossier attend une version qui le corrige.",
    )


def normalise_nir(raw: str) -> str:
    """Strip white space, dots and dashes; upper-case (so that `2a` reads as Corsica)."""
    return raw.translate(_SEPARATORS).upper()


def _as_number(body: str) -> int:
    # For the key, Corsica's 2A and 2B count as 19 and 18 (INSEE's convention).
    dept = {"2A": "19", "2B": "18"}.get(body[5:7], body[5:7])
    return int(body[:5] + dept + body[7:])


def nir_key(body: str) -> str:
    """The 2-digit key of a well-formed 13-character body, always written on two digits."""
    return f"{97 - _as_number(body) % 97:02d}"


def _month_is_allowed(month: int) -> bool:
    # 01-12 real months; 20 and 30-42, 50-99: unknown or conventional months.
    return 1 <= month <= 12 or month == 20 or 30 <= month <= 42 or month >= 50


def body_is_well_formed(body: str) -> bool:
    """Structure of the 13-character body, as AGORA checks it (the key is not sent)."""
    match = _BODY.fullmatch(body)
    if match is None:
        return False
    return _month_is_allowed(int(match["mois"])) and match["ordre"] != "000"


def agrees_with_person(body: str, *, sexe: str, date_naissance: date) -> bool:
    """Sex always; year and real month only for NIRs proper (first digit 1 or 2)."""
    if (body[0] in _MALE_FIRST_DIGITS) != (sexe == "M"):
        return False
    return agrees_with_birth_date(body, date_naissance)


def agrees_with_birth_date(body: str, date_naissance: date) -> bool:
    """Year and real month, only for NIRs proper (first digit 1 or 2)."""
    first = body[0]
    if first not in "12":
        return True
    if int(body[1:3]) != date_naissance.year % 100:
        return False
    month = int(body[3:5])
    return not 1 <= month <= 12 or month == date_naissance.month


def check_nir(raw: str | None, *, sexe: str | None, date_naissance: date) -> NirVerdict:
    """`sexe` None: a person whose sex is not known (an orientation's candidate), only the
    birth date is compared."""
    if raw is None or not normalise_nir(raw):
        return NirVerdict.NIR_ABSENT
    nir = normalise_nir(raw)
    body, key = nir[:13], nir[13:]
    valid = (
        len(nir) == 15
        and body_is_well_formed(body)
        and key == nir_key(body)
        and (
            agrees_with_birth_date(body, date_naissance)
            if sexe is None
            else agrees_with_person(body, sexe=sexe, date_naissance=date_naissance)
        )
    )
    return NirVerdict.VALIDE if valid else NirVerdict.NIR_INVALIDE


def nir_for_agora(raw: str) -> str:
    """AGORA receives the 13-character body, without the key, like the CDC's other partners."""
    return normalise_nir(raw)[:13]
