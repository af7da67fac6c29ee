"""What the bridge knows of one dossier, for the Région's system to show its users
(`GET /region/v1/dossiers/{id_dossier}`): the newest snapshot's version and classification,
what AGORA acknowledged, and its work item. Nothing personal: the identity stays encrypted
and is never read here; `etat_agora` keeps only a digest of the titulaire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.snapshots.perimeter import Classement
from agora_bridge.storage.livraisons import A_FAIRE, A_JOUR, PARQUE, RETENU
from agora_bridge.storage.models import Dossier, EtatAgora, Livraison


class Situation(StrEnum):
    """The one word a user reads first."""

    A_JOUR = "A_JOUR"  # AGORA holds what the newest snapshot says
    EN_ATTENTE = "EN_ATTENTE"  # something is still to send (or to retry)
    PARQUE = "PARQUE"  # AGORA refused: see its code and message; a correction re-opens it
    RETENU = "RETENU"  # held by the bridge: see the reason
    EXCLU = "EXCLU"  # out of AGORA's perimeter, never sent


@dataclass(frozen=True, slots=True)
class Suivi:
    version: int
    date_maj: datetime
    classement: str
    motif: str | None
    livraison: Livraison | None
    etat: EtatAgora | None

    @property
    def situation(self) -> Situation:
        return situation(self.classement, self.livraison.etat if self.livraison else None)


def situation(classement: str, etat: str | None) -> Situation:
    """A parked or held work item says why it stopped; then the snapshot's own hold; then
    whether work is left; an excluded dossier the engine closed (or never queued) is EXCLU."""
    if etat == PARQUE:
        return Situation.PARQUE
    if etat == RETENU or classement == Classement.RETENU:
        return Situation.RETENU
    if etat == A_FAIRE:
        return Situation.EN_ATTENTE
    if classement == Classement.EXCLU:
        return Situation.EXCLU
    return Situation.A_JOUR if etat == A_JOUR else Situation.EN_ATTENTE


async def load(session: AsyncSession, id_dossier: str) -> Suivi | None:
    """None for a dossier the bridge never stored."""
    # The snapshot's columns only: its payload and encrypted identity are not read.
    statement = (
        select(
            Dossier.version,
            Dossier.date_maj,
            Dossier.classement,
            Dossier.motif,
            Livraison,
            EtatAgora,
        )
        .outerjoin(Livraison, Livraison.id_dossier == Dossier.id_dossier)
        .outerjoin(EtatAgora, EtatAgora.id_dossier == Dossier.id_dossier)
        .where(Dossier.id_dossier == id_dossier)
    )
    found = (await session.execute(statement)).one_or_none()
    if found is None:
        return None
    return Suivi(*found)
