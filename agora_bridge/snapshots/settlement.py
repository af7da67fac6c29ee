"""Settlement rules: completion rate and pedagogical cost, in exact decimal arithmetic."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_HALF_UP, Context, Decimal, localcontext
from fractions import Fraction

# Bounds of the numbers a settlement reads. Hours: `region-input.md` (at most 9,999.99). The
# spec gives no maximum for the hourly rate: 10,000 € an hour (real rates are tens of euros)
# keeps every cost under 10^10 cents, exact in a 64-bit integer and any decimal context.
HEURES_MAX = Decimal("9999.99")
TAUX_HORAIRE_MAX_CENTS = 1_000_000
COUT_MAX_CENTS = int(HEURES_MAX * TAUX_HORAIRE_MAX_CENTS)
# Exact arithmetic whatever the operands' size: in the default 28-digit context, a rate of
# 10^28 cents made the quantize raise (issue 6). libmpdec allocates what the digits need, not
# the precision, so the largest one costs nothing on ordinary amounts.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


@dataclass(frozen=True, slots=True)
class Reglement:
    heures_realisees: Decimal
    taux_realisation: int
    cout_pedagogique_cents: int


def taux_realisation(heures_realisees: Decimal, duree_heures: Decimal) -> int:
    """⌊100 × done / planned⌋ capped at 100, an integer as the CDC computes it."""
    # Fractions are exact: a Decimal quotient is rounded to 28 digits before the floor,
    # which could turn 99.999… into 100.
    return min(100, math.floor(100 * Fraction(heures_realisees) / Fraction(duree_heures)))


def cout_pedagogique_cents(heures_centre: Decimal, taux_horaire_cents: int) -> int:
    """Only centre hours are billed (company placement is not); half-up to the cent."""
    with localcontext(_EXACT):
        cost = heures_centre * taux_horaire_cents
        return int(cost.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def reglement(
    *,
    heures_centre: Decimal,
    heures_entreprise: Decimal,
    duree_heures: Decimal,
    taux_horaire_cents: int,
) -> Reglement:
    done = heures_centre + heures_entreprise
    return Reglement(
        heures_realisees=done,
        taux_realisation=taux_realisation(done, duree_heures),
        cout_pedagogique_cents=cout_pedagogique_cents(heures_centre, taux_horaire_cents),
    )
