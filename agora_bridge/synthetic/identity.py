"""Synthetic identifiers that pass the real checks: NIRs with their key, Luhn-valid SIRETs."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date

from agora_bridge.snapshots.nir import nir_key
from agora_bridge.snapshots.siret import luhn_check_digit
from agora_bridge.synthetic.reference import DEPARTEMENTS_NAISSANCE, PAYS, pick

# Birth places in NIRs: Corsica (2A/2B since 1976, 20 before), abroad (99 + country), overseas.
_CORSICA_SHARE = 0.02
_ABROAD_SHARE = 0.08
_OVERSEAS_SHARE = 0.02


def valid_siret(rng: random.Random) -> str:
    """A SIREN and a SIRET both passing Luhn (never La Poste's, which has its own rule)."""
    body = f"{1 + int(rng.random() * 9)}{int(rng.random() * 10**12):012d}"
    if body.startswith("35600000"):
        body = "4" + body[1:]
    siren = body[:8] + luhn_check_digit(body[:8])
    establishment = siren + body[9:]
    return establishment + luhn_check_digit(establishment)


def _birth_place(r: Callable[[], float], year: int) -> str:
    """Positions 6-10 of a NIR: department and commune, or 99 and a country."""
    x = r()
    if x < _CORSICA_SHARE:
        department = ("2A" if r() < 0.5 else "2B") if year >= 1976 else "20"
        return f"{department}{1 + int(r() * 360):03d}"
    if x < _CORSICA_SHARE + _ABROAD_SHARE:
        return "99" + pick(r, PAYS)
    if x < _CORSICA_SHARE + _ABROAD_SHARE + _OVERSEAS_SHARE:
        return f"97{pick(r, ('1', '2', '3', '4', '6'))}{1 + int(r() * 34):02d}"
    return f"{pick(r, DEPARTEMENTS_NAISSANCE)}{1 + int(r() * 400):03d}"


def valid_nir(rng: random.Random, *, sexe: str, date_naissance: date) -> str:
    """A 15-character NIR agreeing with sex and birth date, with its correct key."""
    r = rng.random
    body = (
        f"{'1' if sexe == 'M' else '2'}{date_naissance.year % 100:02d}"
        f"{date_naissance.month:02d}{_birth_place(r, date_naissance.year)}"
        f"{1 + int(r() * 999):03d}"
    )
    return body + nir_key(body)
