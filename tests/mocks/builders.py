"""Typed builders of AGORA bodies: every test states the values it cares about."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from typing import Any

NIR = "1850578006084"  # a man born in May 1985, as AGORA receives it (13 characters)
SIRET = "73282932000074"
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
TODAY = date(2026, 11, 26)  # NOW in Europe/Paris

_CREATION: dict[str, Any] = {
    "reference_financeur": "PDL-2019-0001234",
    "code_financeur": "REG52",
    "dispositif": "VISA_METIERS",
    "titulaire": {
        "nir": NIR,
        "nom_naissance": "DUPONT",
        "prenom": "JEAN",
        "date_naissance": "1985-05-12",
        "sexe": "M",
    },
    "niveau_entree": "3",
    "organisme": {"siret": SIRET},
    "action": {
        "numero": "20_1262663",
        "formacode": "31812",
        "certification": {"type": "RNCP", "code": "RNCP35000"},
    },
    "session": {
        "numero": "1330305",
        "date_debut": "2019-03-04",
        "date_fin": "2019-09-27",
        "duree_heures": "840",
    },
    "date_validation": "2019-02-20",
}

ENTREE: dict[str, Any] = {"date_entree": "2019-03-04"}
SORTIE: dict[str, Any] = {"date_sortie": "2019-09-27", "motif_sortie": "FIN_FORMATION"}
# 700 + 140 of 840 hours: 100 %; 700 centre hours at 12.50 €.
SOLDE: dict[str, Any] = {
    "date_solde": "2019-10-15",
    "heures_realisees_centre": "700",
    "heures_realisees_entreprise": "140",
    "taux_realisation": 100,
    "taux_horaire_cents": 1250,
    "cout_pedagogique_cents": 875000,
}
ANNULATION: dict[str, Any] = {"date_annulation": "2019-03-01", "motif_annulation": "DESISTEMENT"}
STEP_BODIES = {"entree": ENTREE, "sortie": SORTIE, "solde": SOLDE, "annulation": ANNULATION}
# The steps that lead from VALIDE to each state.
PATH_TO: dict[str, tuple[str, ...]] = {
    "VALIDE": (),
    "ENTRE": ("entree",),
    "SORTI": ("entree", "sortie"),
    "SOLDE": ("entree", "sortie", "solde"),
    "ANNULE": ("annulation",),
}
DELETE = object()


def creation(reference: str = "PDL-2019-0001234", **changes: Any) -> dict[str, Any]:
    """The spec's example creation body, with `reference_financeur` and top-level changes."""
    body = copy.deepcopy(_CREATION)
    body["reference_financeur"] = reference
    body.update(changes)
    return body


def changed(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `body` with the dotted `path` set to `value` (or removed, for DELETE)."""
    result = copy.deepcopy(body)
    *parents, last = path.split(".")
    target = result
    for part in parents:
        target = target[part]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return result


def ligne(reference: str, statut: str = "VALIDE", **changes: Any) -> dict[str, Any]:
    """A lot line describing a dossier in `statut`."""
    body = creation(reference, **changes)
    for step in PATH_TO[statut]:
        body[step] = copy.deepcopy(STEP_BODIES[step])
    return body


def ndjson(*lines: dict[str, Any] | str) -> bytes:
    """Lines of a lot: dicts as JSON, strings as they are (blank or broken lines)."""
    texts = (line if isinstance(line, str) else json.dumps(line) for line in lines)
    return ("\n".join(texts) + "\n").encode()


def problem(code: str, status: int, **extra: Any) -> dict[str, Any]:
    """A problem+json body as AGORA writes it."""
    return {
        "type": f"urn:agora:v2:probleme:{code}",
        "title": code,
        "status": status,
        "code": code,
        "detail": "",
        "erreurs": [],
        **extra,
    }
