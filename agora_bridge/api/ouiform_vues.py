"""What the orientation API answers: the orientation as JSON, its envelopes, the cursors.

The response models document `/openapi.json`; the routes answer the same shape built as
dicts (`render`), which `tests/api/test_ouiform_contract.py` and schemathesis check against
the models.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from typing import Any

import pydantic_core
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from agora_bridge.api.problems import PROBLEM_JSON, Invalid, Problem
from agora_bridge.orientation.model import (
    MotifAbandon,
    MotifNonRetenue,
    ResultatDecision,
    StatutOrientation,
)
from agora_bridge.storage.orientations import Vue


class CandidatVue(BaseModel):
    nom: str
    prenom: str
    date_naissance: date
    identifiant_ft: str | None
    email: str | None
    telephone: str | None


class CandidatRegion(CandidatVue):
    nir: str | None = Field(description="Normalised (no spaces); only in the Région's feed")


class PrescripteurVue(BaseModel):
    code: str
    type: str


class OrganismeVue(BaseModel):
    siret: str


class SessionVue(BaseModel):
    action_numero: str
    session_numero: str


class DecisionVue(BaseModel):
    resultat: ResultatDecision
    motif: MotifNonRetenue | None
    commentaire: str | None


class AbandonVue(BaseModel):
    date: date
    motif: MotifAbandon
    commentaire: str | None


class EtapeVue(BaseModel):
    statut: StatutOrientation
    le: datetime
    par: str = Field(description="The role that made the change")


class OrientationVue(BaseModel):
    id: str
    statut: StatutOrientation
    version: int
    candidat: CandidatVue
    prescripteur: PrescripteurVue | None
    organisme: OrganismeVue
    session: SessionVue
    date_information_collective: date | None
    decision: DecisionVue | None
    date_entree: date | None
    abandon: AbandonVue | None
    historique: list[EtapeVue]
    cree_le: datetime
    maj_le: datetime


class OrientationRegion(OrientationVue):
    candidat: CandidatRegion


class PageOrientations(BaseModel):
    items: list[OrientationVue]
    next_cursor: str | None = Field(description="The next page's `cursor`; null on the last")


class FluxRegion(BaseModel):
    items: list[OrientationRegion]
    next_cursor: str = Field(
        description="Where to read on from: never null; an empty page means caught up"
    )


class ProblemeConflit(Problem):
    """The 409: the problem, and the orientation as it is."""

    orientation: OrientationVue


CONFLICT_RESPONSE: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ProblemeConflit,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemeConflit"}}},
        "description": "Impossible from the current state, which `orientation` holds",
    }
}


class Answer(JSONResponse):
    """JSON in pydantic-core's serialiser (Rust): the same bytes as Starlette's `json.dumps`
    (compact, UTF-8), in about 40 % of its time on a feed page."""

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content)


def render(vue: Vue, *, with_nir: bool = False) -> dict[str, Any]:
    row, etat = vue.row, vue.etat
    candidat = dict(vue.candidat)
    if not with_nir:
        candidat.pop("nir", None)
    prescripteur = (
        {"code": row.prescripteur_code, "type": row.prescripteur_type}
        if row.prescripteur_code is not None
        else None
    )
    return {
        "id": row.id,
        "statut": etat["statut"],
        "version": etat["version"],
        "candidat": candidat,
        "prescripteur": prescripteur,
        "organisme": {"siret": row.organisme_siret},
        "session": {"action_numero": row.action_numero, "session_numero": row.session_numero},
        "date_information_collective": etat["date_information_collective"],
        "decision": _ordered(etat["decision"], "resultat", "motif", "commentaire"),
        "date_entree": etat["date_entree"],
        "abandon": _ordered(etat["abandon"], "date", "motif", "commentaire"),
        "historique": [_ordered(e, "statut", "le", "par") for e in etat["historique"]],
        "cree_le": row.created_at.isoformat(),
        "maj_le": etat["maj_le"],
    }


def _ordered(data: dict[str, Any] | None, *keys: str) -> dict[str, Any] | None:
    # PostgreSQL's jsonb keeps its own key order: a replayed 201 must be the same bytes.
    return {key: data[key] for key in keys} if data is not None else None


def etag(version: int) -> str:
    return f'"{version}"'


def if_match_allows(header: str, version: int) -> bool:
    """`If-Match: "<version>"` (or a list, or `*`); weak tags compare like strong ones. An
    empty header names no version: no precondition."""
    tags = [tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")]
    return "*" in tags or str(version) in tags or not header.strip()


def encode_cursor(**position: int) -> str:
    text = json.dumps(position, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *names: str) -> dict[str, int]:
    """The positions a cursor of ours holds; 422 for anything else."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        data = None
    valid = isinstance(data, dict) and sorted(data) == sorted(names)
    if not valid or not all(type(data[n]) is int and 0 <= data[n] < 2**63 for n in names):
        raise Invalid([{"champ": "query.cursor", "code": "CURSOR_INVALIDE"}])
    return {name: data[name] for name in names}
