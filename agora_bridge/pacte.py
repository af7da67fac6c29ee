"""The Pacte's indicators (`../shared/domain.md`): entries into training per year since 2017,
all of them and those below level IV, by dispositif and by département, against 2017.

Pure: it counts what it is given. Choices where the spec is silent (`docs/PACTE.md`):
- an entry is a dossier whose newest snapshot has a `date_entree` and is not cancelled (an
  `ANNULE` dossier's entry, if any, was undone); the year is the entry date's;
- every dossier counts, in the AGORA perimeter or not, held or sendable: the Pacte counts the
  Région's entries, AGORA's perimeter only decides what the data hub receives. The input has
  no job-seeker status: every trainee of the Région's programmes counts as one;
- "below level IV" is a 2019 level of 3 or less (`region-input.md`, Levels), of the level
  before training (`stagiaire.niveau_entree`, required);
- the comparison with 2017 is an index, 2017 = 100, rounded half up to one decimal; none when
  2017 has no entry for that row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from agora_bridge.snapshots.normalise import below_level_iv

REFERENCE_YEAR = 2017
TOTAL = "TOTAL"


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry into training, as the report needs it: nothing personal."""

    year: int
    dispositif: str
    departement: str
    below_iv: bool


def entry_of(payload: dict[str, Any]) -> Entry | None:
    """The entry a stored snapshot (its payload, without the identity) records, if any."""
    entered = payload.get("date_entree")
    if entered is None or payload["statut"] == "ANNULE":
        return None
    return Entry(
        year=date.fromisoformat(entered).year,
        dispositif=payload["programme"]["dispositif"],
        departement=payload["session"]["departement"],
        below_iv=below_level_iv(payload["stagiaire"]["niveau_entree"]),
    )


@dataclass
class Tally:
    """Counts by (breakdown, key, year)."""

    entries: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    below_iv: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    before_reference: int = 0

    def add(self, entry: Entry) -> None:
        if entry.year < REFERENCE_YEAR:
            self.before_reference += 1
            return
        keys = (
            ("total", TOTAL),
            ("dispositif", entry.dispositif),
            ("departement", entry.departement),
        )
        for breakdown, key in keys:
            self.entries[breakdown, key, entry.year] += 1
            if entry.below_iv:
                self.below_iv[breakdown, key, entry.year] += 1


def index(count: int, reference: int) -> float | None:
    """`count` against `reference` = 100, half up to one decimal; None without a reference."""
    if reference == 0:
        return None
    exact = Decimal(count) * 100 / Decimal(reference)
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def report(counts: Tally, *, last_year: int) -> dict[str, Any]:
    """The report as JSON: one row a (breakdown, key, year) from 2017 to `last_year`."""
    years = range(REFERENCE_YEAR, max(last_year, REFERENCE_YEAR) + 1)
    keys = sorted({(breakdown, key) for breakdown, key, _ in counts.entries})
    if ("total", TOTAL) not in keys:
        keys.insert(0, ("total", TOTAL))
    sections: dict[str, list[dict[str, Any]]] = {"total": [], "dispositif": [], "departement": []}
    for breakdown, key in keys:
        base = counts.entries[breakdown, key, REFERENCE_YEAR]
        base_below = counts.below_iv[breakdown, key, REFERENCE_YEAR]
        for year in years:
            entries = counts.entries[breakdown, key, year]
            below = counts.below_iv[breakdown, key, year]
            row: dict[str, Any] = {} if breakdown == "total" else {breakdown: key}
            sections[breakdown].append(
                row
                | {
                    "annee": year,
                    "entrees": entries,
                    "entrees_infra_iv": below,
                    "indice_2017": index(entries, base),
                    "indice_2017_infra_iv": index(below, base_below),
                }
            )
    return {
        "annee_reference": REFERENCE_YEAR,
        "total": sections["total"],
        "par_dispositif": sections["dispositif"],
        "par_departement": sections["departement"],
        "entrees_avant_2017": counts.before_reference,
    }
