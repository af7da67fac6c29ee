"""AGORA's errors: RFC 9457 problem details carrying an AGORA `code` (agora-v2.md, Errors)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"

FORMAT_INVALIDE = "FORMAT_INVALIDE"
JETON_INVALIDE = "JETON_INVALIDE"
DOSSIER_INCONNU = "DOSSIER_INCONNU"
LOT_INCONNU = "LOT_INCONNU"
DOSSIER_EXISTANT = "DOSSIER_EXISTANT"
TRANSITION_DEJA_APPLIQUEE = "TRANSITION_DEJA_APPLIQUEE"
LOT_NON_TRAITE = "LOT_NON_TRAITE"
LOT_TROP_VOLUMINEUX = "LOT_TROP_VOLUMINEUX"
NIR_INVALIDE = "NIR_INVALIDE"
SIRET_INVALIDE = "SIRET_INVALIDE"
DATE_INCOHERENTE = "DATE_INCOHERENTE"
SORTIE_APRES_FIN_SESSION = "SORTIE_APRES_FIN_SESSION"
DATE_FUTURE = "DATE_FUTURE"
COUT_INCOHERENT = "COUT_INCOHERENT"
TRANSITION_INVALIDE = "TRANSITION_INVALIDE"
DOSSIER_SOLDE = "DOSSIER_SOLDE"
CLE_IDEMPOTENCE_REUTILISEE = "CLE_IDEMPOTENCE_REUTILISEE"
QUOTA_DEPASSE = "QUOTA_DEPASSE"
INDISPONIBLE = "INDISPONIBLE"
MEDIA_TYPE_NON_SUPPORTE = "MEDIA_TYPE_NON_SUPPORTE"
# Outside the contract: a path AGORA does not have, a method a path does not take.
ROUTE_INCONNUE = "ROUTE_INCONNUE"
METHODE_NON_AUTORISEE = "METHODE_NON_AUTORISEE"

TITLES = {
    FORMAT_INVALIDE: "Format invalide",
    JETON_INVALIDE: "Jeton absent, invalide ou expiré",
    DOSSIER_INCONNU: "Dossier inconnu",
    LOT_INCONNU: "Lot inconnu",
    DOSSIER_EXISTANT: "Dossier existant",
    TRANSITION_DEJA_APPLIQUEE: "Transition déjà appliquée",
    LOT_NON_TRAITE: "Lot non traité",
    LOT_TROP_VOLUMINEUX: "Lot trop volumineux",
    NIR_INVALIDE: "NIR invalide",
    SIRET_INVALIDE: "SIRET invalide",
    DATE_INCOHERENTE: "Dates incohérentes",
    SORTIE_APRES_FIN_SESSION: "Sortie après la fin de la session",
    DATE_FUTURE: "Date dans le futur",
    COUT_INCOHERENT: "Coût incohérent",
    TRANSITION_INVALIDE: "Transition invalide",
    DOSSIER_SOLDE: "Dossier soldé",
    CLE_IDEMPOTENCE_REUTILISEE: "Clé d'idempotence réutilisée",
    QUOTA_DEPASSE: "Quota dépassé",
    INDISPONIBLE: "Service indisponible",
    MEDIA_TYPE_NON_SUPPORTE: "Type de média non supporté",
    ROUTE_INCONNUE: "Route inconnue",
    METHODE_NON_AUTORISEE: "Méthode non autorisée",
}


@dataclass(frozen=True, slots=True)
class Erreur:
    """One broken rule: the field (dotted path, '' for the whole body), its code, why."""

    champ: str
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"champ": self.champ, "code": self.code, "message": self.message}


class Probleme(Exception):
    """An AGORA error answer; raised anywhere in a request, rendered by `problem_response`."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        erreurs: Sequence[Erreur] = (),
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.erreurs = tuple(erreurs)
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "type": f"urn:agora:v2:probleme:{self.code}",
            "title": TITLES.get(self.code, self.code),
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
            "erreurs": [erreur.to_json() for erreur in self.erreurs],
            **self.extra,
        }


def rejection(status: int, erreurs: Sequence[Erreur], detail: str) -> Probleme:
    """A rejection listing every broken rule; its `code` is the first one's."""
    return Probleme(status, erreurs[0].code, detail, erreurs=erreurs)


# Built once: `json.dumps` with options builds an encoder on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(content: Any) -> bytes:
    return _ENCODER.encode(content).encode()


def problem_response(problem: Probleme) -> Response:
    return Response(
        dumps(problem.body()),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def json_response(content: Any, status: int = 200) -> Response:
    return Response(dumps(content), status_code=status, media_type="application/json")
