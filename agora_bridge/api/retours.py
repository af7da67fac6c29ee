"""`/region/v1`, the return flow the annex asks for (2.5.1): one dossier's status, and the
feed of what AGORA said (role `REGION_SI`). Neither answer carries personal data: the
bridge's tables behind them hold none in clear, and these routes read no identity.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from agora_bridge.api.auth import require_roles
from agora_bridge.api.problems import (
    ApiProblem,
    ChampErreur,
    DatabaseUnavailable,
    problem_responses,
)
from agora_bridge.api.state import BridgeState, bridge_state
from agora_bridge.storage import retours, suivi
from agora_bridge.storage.callers import Caller, Role
from agora_bridge.storage.db import reading
from agora_bridge.storage.models import EtatAgora
from agora_bridge.storage.retours import InvalidCursor, Stored
from agora_bridge.storage.suivi import Situation, Suivi

router = APIRouter(prefix="/region/v1", tags=["region"])
MAX_LIMIT = 1000
RegionSi = Annotated[Caller, Depends(require_roles(Role.REGION_SI))]
State = Annotated[BridgeState, Depends(bridge_state)]


class DossierInconnu(ApiProblem):
    status, code, title = 404, "DOSSIER_INCONNU", "Dossier inconnu"


class CurseurInvalide(ApiProblem):
    status, code, title = 422, "REQUETE_INVALIDE", "Requête invalide"

    def __init__(self) -> None:
        erreurs = [ChampErreur(champ="cursor", code="CURSEUR_INVALIDE").model_dump()]
        super().__init__("cursor is not one this feed gave", erreurs=erreurs)


# ---- One dossier ---------------------------------------------------------------------------


class EtatAcquitte(BaseModel):
    statut: str = Field(description="AGORA's statut of the dossier")
    acquitte_le: datetime = Field(description="When AGORA's answer was recorded")
    dossier: dict[str, Any] = Field(
        description="The dossier as AGORA acknowledged it, without its titulaire"
    )


class Tentative(BaseModel):
    le: datetime | None
    resultat: str | None = Field(description="e.g. `Entrer:TRANSITOIRE`, `SUCCES`, `LU`")


class Travail(BaseModel):
    """The work item: what is pending, and how the last attempt went."""

    etat: Literal["A_FAIRE", "A_JOUR", "PARQUE", "RETENU"]
    en_attente: bool
    en_attente_depuis: datetime | None = Field(description="Pending since (A_FAIRE only)")
    prochaine_tentative: datetime | None = Field(description="Due at (A_FAIRE only)")
    tentatives: int = Field(description="Failed attempts since the last success")
    code: str | None = Field(description="A parked call's AGORA code")
    message: str | None = Field(description="A parked call's AGORA message (NIR redacted)")
    parque_le: datetime | None
    motif_retenue: str | None = Field(description="Why the engine holds it")
    derniere_tentative: Tentative


class StatutDossier(BaseModel):
    id_dossier: str
    version: int = Field(description="The newest version stored")
    date_maj: datetime
    situation: Situation
    classement: Literal["ENVOYABLE", "EXCLU", "RETENU"]
    motif: str | None = Field(description="Why excluded or held at classification")
    id_agora: str | None
    etat_agora: EtatAcquitte | None = Field(description="What AGORA last acknowledged")
    livraison: Travail | None


@router.get(
    "/dossiers/{id_dossier:path}",
    response_model=StatutDossier,
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def dossier_status(id_dossier: str, state: State, _caller: RegionSi) -> StatutDossier:
    """What the bridge knows of one dossier: no NIR, no name, no birth date."""
    try:
        async with state.session_maker() as session:
            await reading(session)
            found = await suivi.load(session, id_dossier)
    except (SQLAlchemyError, OSError):
        raise DatabaseUnavailable("the database failed: ask again") from None
    if found is None:
        raise DossierInconnu("the bridge holds no snapshot of this dossier")
    return _status(id_dossier, found)


def _status(id_dossier: str, found: Suivi) -> StatutDossier:
    etat = found.etat
    return StatutDossier(
        id_dossier=id_dossier,
        version=found.version,
        date_maj=found.date_maj,
        situation=found.situation,
        classement=found.classement,
        motif=found.motif,
        id_agora=etat.id_agora if etat else None,
        etat_agora=_acquitte(etat) if etat else None,
        livraison=_travail(found),
    )


def _acquitte(etat: EtatAgora) -> EtatAcquitte:
    # `acquitte` is AGORA's dossier without its titulaire (a digest stands for it).
    statut = str(etat.acquitte.get("statut"))
    return EtatAcquitte(statut=statut, acquitte_le=etat.acquitte_at, dossier=etat.acquitte)


def _travail(found: Suivi) -> Travail | None:
    item = found.livraison
    if item is None:
        return None
    pending = item.etat == "A_FAIRE"
    return Travail(
        etat=item.etat,
        en_attente=pending,
        en_attente_depuis=item.opened_at if pending else None,
        prochaine_tentative=item.due_at if pending else None,
        tentatives=item.attempts,
        code=item.code,
        message=item.message,
        parque_le=item.parked_at,
        motif_retenue=item.motif_retenue,
        derniere_tentative=Tentative(le=item.last_attempt_at, resultat=item.last_outcome),
    )


# ---- The feed ------------------------------------------------------------------------------


class Retour(BaseModel):
    cursor: str = Field(description="Resume after this event: pass it as `cursor`")
    evenement: Literal["ID_AGORA_ATTRIBUE", "ETAT_ACQUITTE", "REJETE", "RETENU", "REPRIS"]
    id_dossier: str
    version: int | None
    id_agora: str | None
    statut: str | None = Field(description="AGORA's statut of the dossier, when known")
    code: str | None = Field(
        description="REJETE: AGORA's code; RETENU: the reason; REPRIS: the code it resumes "
        "from; ID_AGORA_ATTRIBUE, ETAT_ACQUITTE: the operation AGORA accepted, or how its "
        "state was learnt (LU, LIE, EXISTANT, DEJA_APPLIQUEE)"
    )
    message: str | None = Field(description="REJETE: AGORA's explanation (NIR redacted)")
    le: datetime


class Retours(BaseModel):
    items: list[Retour] = Field(description="Oldest first")
    next_cursor: str = Field(description="Pass it back to read what follows (even if empty)")


@router.get("/retours", response_model=Retours, responses=problem_responses(401, 403, 422, 503))
async def feed(
    state: State,
    _caller: RegionSi,
    cursor: Annotated[str | None, Query(max_length=64, description="From `next_cursor`")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Retours:
    """What AGORA said, oldest first, each event exactly once however often it is followed."""
    try:
        position = retours.decode_cursor(cursor)
    except InvalidCursor:
        raise CurseurInvalide() from None
    try:
        async with state.session_maker() as session:
            await reading(session)
            events = await retours.read_after(session, position, limit)
    except (SQLAlchemyError, OSError):
        raise DatabaseUnavailable("the database failed: ask again with the same cursor") from None
    next_cursor = events[-1].cursor if events else retours.encode_cursor(position)
    return Retours(items=[as_item(stored) for stored in events], next_cursor=next_cursor)


def as_item(stored: Stored) -> Retour:
    event = stored.event
    return Retour(
        cursor=stored.cursor,
        evenement=event.evenement.value,
        id_dossier=event.id_dossier,
        version=event.version,
        id_agora=event.id_agora,
        statut=event.statut,
        code=event.code,
        message=event.message,
        le=event.le,
    )
