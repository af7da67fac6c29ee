"""Typed builders of test data: every test states the values it cares about."""

from __future__ import annotations

import copy
import json
from datetime import date
from enum import Enum
from typing import Any, Final

from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.nir import nir_key

NIR_BODY = "1850578006084"  # a man born in May 1985
NIR = NIR_BODY + nir_key(NIR_BODY)
SIRET = "73282932000074"
TODAY = date(2026, 11, 26)


class _Absent(Enum):
    ABSENT = "ABSENT"


# A change to ABSENT leaves the key out of the snapshot: absent is not the same as null.
ABSENT: Final = _Absent.ABSENT

_BASE: dict[str, Any] = {
    "id_dossier": "PDL-2019-0001234",
    "version": 1,
    "date_maj": "2019-02-20T10:00:00+01:00",
    "stagiaire": {
        "nir": NIR,
        "nom_naissance": "Dupont",
        "prenom": "Jean",
        "date_naissance": "1985-05-12",
        "sexe": "M",
        "niveau_entree": "V",
    },
    "programme": {
        "code": "PRG-1",
        "dispositif": "VISA_METIERS",
        "consultation": None,
        "categorie": "QUALIFIANT",
        "interface_agora": True,
    },
    "organisme": {"siret": SIRET, "raison_sociale": "Organisme de formation"},
    "action": {
        "numero": "20_1262663",
        "intitule": "Soudeur",
        "formacode": "31812",
        "certification": {"type": "RNCP", "code": "RNCP35000"},
    },
    "session": {
        "numero": "1330305",
        "date_debut": "2019-03-04",
        "date_fin": "2019-09-27",
        "duree_heures": "840",
        "departement": "44",
    },
    "taux_horaire_cents": 1250,
    "statut": "VALIDE",
    "date_validation": "2019-02-20",
    "date_entree": None,
    "sortie": None,
    "solde": None,
    "annulation": None,
}

_STEPS: dict[str, dict[str, Any]] = {
    "VALIDE": {},
    "ENTRE": {"date_entree": "2019-03-04"},
    "SORTI": {
        "date_entree": "2019-03-04",
        "sortie": {"date": "2019-09-27", "motif": "FIN_FORMATION"},
    },
    "SOLDE": {
        "date_entree": "2019-03-04",
        "sortie": {"date": "2019-09-27", "motif": "FIN_FORMATION"},
        "solde": {
            "date": "2019-10-10",
            "heures_realisees_centre": "800",
            "heures_realisees_entreprise": "40.5",
        },
    },
    "ANNULE": {"annulation": {"date": "2019-03-01", "motif": "DESISTEMENT"}},
}


def snapshot_dict(step: str = "VALIDE", /, **changes: Any) -> dict[str, Any]:
    """A valid snapshot at status `step`; `changes` set dotted paths (`stagiaire.nir`), or
    remove them when the value is `ABSENT`."""
    data = copy.deepcopy(_BASE)
    data.update(copy.deepcopy(_STEPS[step]), statut=step)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        if value is ABSENT:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return data


def snapshot_line(step: str = "VALIDE", /, **changes: Any) -> str:
    return json.dumps(snapshot_dict(step, **changes))


def snapshot(step: str = "VALIDE", /, **changes: Any) -> Snapshot:
    return Snapshot.model_validate(snapshot_dict(step, **changes))
