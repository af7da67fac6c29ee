"""Values as AGORA receives them: names and 2019 levels (`region-input.md`)."""

from __future__ import annotations

import re
import unicodedata
from typing import cast

from agora_bridge.snapshots.model import Niveau2019, NiveauEntree

NAME_MAX_LENGTH = 50
# Letters that NFKD does not decompose into a base letter plus accents: ligatures, and the
# letters with a stroke of Danish, Polish and Vietnamese names (else "Łukasz" → "UKASZ").
_LIGATURES = str.maketrans(
    {"Œ": "OE", "œ": "OE", "Æ": "AE", "æ": "AE", "ß": "SS", "ẞ": "SS", "’": "'"}
    | {"Ø": "O", "ø": "O", "Ł": "L", "ł": "L", "Đ": "D", "đ": "D"}
)
_NOT_ALLOWED = re.compile(r"[^A-Z '\-]")
_SPACES = re.compile(r" {2,}")

_OLD_LEVELS: dict[str, Niveau2019] = {
    "VI": "2",
    "Vbis": "2",
    "V": "3",
    "IV": "4",
    "III": "5",
    "II": "6",
    "I": "7",
}


def agora_name(raw: str) -> str:
    """`"Éloïse  d'Arc-Noël"` → `"ELOISE D'ARC-NOEL"`; may return "" (the caller rejects it)."""
    decomposed = unicodedata.normalize("NFKD", raw.translate(_LIGATURES))
    without_accents = "".join(c for c in decomposed if not unicodedata.combining(c))
    kept = _NOT_ALLOWED.sub("", without_accents.upper().replace("\t", " "))
    return _SPACES.sub(" ", kept).strip()[:NAME_MAX_LENGTH].rstrip()


def level_2019(code: NiveauEntree) -> Niveau2019:
    """The 2019 nomenclature code of a level given in either nomenclature."""
    return _OLD_LEVELS.get(code) or cast(Niveau2019, code)


def below_level_iv(code: NiveauEntree) -> bool:
    """The Pacte indicator: a 2019 level of 3 or less."""
    return int(level_2019(code)) <= 3
