"""Synthetic identifiers that pass the real checks: NIRs with their key, Luhn-valid SIRETs."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date

from agora_bridge.snapshots.nir import nir_key
from agora_bridge.snapshots.siret import luhn_sum
from agora_bridge.synthetic.reference import DEPARTEMENTS_NAISSANCE, PAYS, pick

# Birth places in NIRs: Corsica (2A/2B since 1976, 20 before), abroad (99 + country), overseas.
_CORSICA_SHARE = 0.02
_ABROAD_SHARE = 0.08
_OVERSEAS_SHARE = 0.02


def valid_siret(rng: random.Random) -> str:
    """14 digits passing the Luhn check, and so do the first 9 (the SIREN): never a La Poste
    number, which has its own rule."""
    siren = _with_luhn_digit(f"{1 + int(rng.random() * 9)}{int(rng.random() * 10**7):07d}")
    if siren == "356000000":  # La Poste
        siren = _with_luhn_digit("4" + siren[1:8])
    return _with_luhn_digit(siren + f"{int(rng.random() * 10**4):04d}")


def _with_luhn_digit(body: str) -> str:
    return body + str((10 - luhn_sum(body + "0") % 10) % 10)


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
