"""Seeded histories of dossiers for the soak tests: each a list of snapshot versions that only
move forward in AGORA's state machine, with corrections of what AGORA lets us correct."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.nir import nir_for_agora
from agora_bridge.snapshots.normalise import agora_name
from tests.builders import snapshot
from tests.storage.builders import nir

# (state, changes that bring the builders' snapshot there): every path AGORA can take.
PATHS = (
    ("VALIDE",),
    ("VALIDE", "ENTRE"),
    ("VALIDE", "ENTRE", "SORTI"),
    ("VALIDE", "ENTRE", "SORTI", "SOLDE"),
    ("VALIDE", "ANNULE"),
    ("VALIDE", "ENTRE", "ANNULE_APRES_ENTREE"),
)
PRENOMS = ("Jean", "Paul", "Pierre", "Louis")
ENTREES = ("2019-03-04", "2019-03-05", "2019-03-11")


@dataclass(frozen=True)
class History:
    id_dossier: str
    versions: list[Snapshot]
    refused: bool = False  # AGORA refuses its creation (see `refuse_creations`): parked

    @property
    def newest(self) -> Snapshot:
        return self.versions[-1]


def history(rng: random.Random, order: int, *, refused: bool = False) -> History:
    id_dossier = f"SOAK-{order:04d}"
    if refused:
        only = _version(id_dossier, order, 1, "VALIDE", {})
        return History(id_dossier, [only], refused=True)
    path = rng.choice(PATHS)
    changes: dict[str, Any] = {}
    versions = []
    for number, step in enumerate(path, 1):
        if step not in ("SOLDE",) and number > 1 and rng.random() < 0.3:
            changes["stagiaire.prenom"] = rng.choice(PRENOMS)
        if step in ("ENTRE", "SORTI") and rng.random() < 0.3:
            changes["date_entree"] = rng.choice(ENTREES)
        versions.append(_version(id_dossier, order, number, step, changes))
    return History(id_dossier, versions)


def _version(
    id_dossier: str, order: int, version: int, step: str, changes: dict[str, Any]
) -> Snapshot:
    values = dict(changes)
    if step == "ANNULE_APRES_ENTREE":
        step = "ANNULE"
        values |= {
            "date_entree": values.get("date_entree", "2019-03-04"),
            "annulation": {"date": "2019-03-20", "motif": "DESISTEMENT"},
        }
    elif step in ("VALIDE", "ANNULE"):
        values.pop("date_entree", None)
    return snapshot(
        step,
        id_dossier=id_dossier,
        version=version,
        **{"stagiaire.nir": nir(order % 999 + 1)},
        **values,
    )


def deliveries(rng: random.Random, histories: list[History], *, stale: int) -> list[Snapshot]:
    """Every version of every history, shuffled, then `stale` re-sends of old versions."""
    every = [version for h in histories for version in h.versions]
    rng.shuffle(every)
    return every + [rng.choice(every) for _ in range(stale)]


def personal_data(histories: list[History]) -> set[str]:
    """NIRs (as written and as AGORA gets them), names (as written and as AGORA gets them)
    and birth dates of every version."""
    values: set[str] = set()
    for h in histories:
        for version in h.versions:
            person = version.stagiaire
            assert person.nir is not None
            values |= {person.nir, nir_for_agora(person.nir), person.date_naissance.isoformat()}
            for name in (person.nom_naissance, person.prenom):
                values |= {name, agora_name(name)}
    return values
