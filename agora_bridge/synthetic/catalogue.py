"""The training actions every synthetic dossier draws from, built once with a fixed seed."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from agora_bridge.synthetic.identity import valid_siret
from agora_bridge.synthetic.interface_agora import interface_agora_levels
from agora_bridge.synthetic.reference import (
    CATALOGUE,
    DEPARTEMENTS_SESSION,
    DISPOSITIFS,
    ORGANISMES,
    pick,
)


@dataclass(frozen=True, slots=True)
class Action:
    """A training action of the catalogue: what every dossier of its sessions shares."""

    parts: dict[str, Any]  # programme, organisme, action: never handed out uncopied
    fragment: str  # the same parts, JSON-encoded once: most of a line, for free
    hundredths: int  # planned hours × 100: exact arithmetic for the settlement hours
    days: int
    taux_horaire_cents: int
    departement: str  # where its sessions take place


ENCODE = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":")).encode


def _build_action(rng: random.Random, number: int, organisme: dict[str, Any]) -> Action:
    r = rng.random
    intitule, formacode, certification, categorie, hours, days = pick(r, CATALOGUE)
    dispositif = pick(r, DISPOSITIFS[categorie])
    consultation = None if r() < 0.2 else f"{2016 + int(r() * 9)}-FORM-{number:03d}"
    levels = interface_agora_levels(r, on=True, dispositif=dispositif, consultation=consultation)
    parts = {
        "programme": {
            "code": f"PRG-{dispositif}",
            "dispositif": dispositif,
            "consultation": consultation,
            "categorie": categorie,
            **levels,
        },
        "organisme": organisme,
        "action": {
            "numero": f"{20 + int(r() * 5)}_{1000000 + number * 7919 % 9000000}",
            "intitule": intitule,
            "formacode": formacode,
            "certification": certification and {"type": certification[0], "code": certification[1]},
        },
    }
    taux = 800 + 50 * int(r() * 35)
    departement = pick(r, DEPARTEMENTS_SESSION)
    return Action(parts, ENCODE(parts)[1:-1], int(hours * 100), days, taux, departement)


def build_actions() -> tuple[Action, ...]:
    # Fixed seed: the reference data is the same for every generated file.
    rng = random.Random(2019)  # noqa: S311 - synthetic data, no secret
    organismes = tuple(
        {"siret": valid_siret(rng), "raison_sociale": ORGANISMES[i % len(ORGANISMES)]}
        for i in range(40)
    )
    return tuple(_build_action(rng, n, pick(rng.random, organismes)) for n in range(300))


ACTIONS = build_actions()
