"""The orientation's request bodies and its state, as `ouiform.md` defines them.

Personal fields (names, birth date, NIR, France Travail id, e-mail, phone) stay out of reprs
and errors never quote an input (`hide_input_in_errors`): a body may hold any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from agora_bridge.snapshots.model import NO_CONTROL_PATTERN, Code, Day, Name, Siret


class StatutOrientation(StrEnum):
    PRESCRITE = "PRESCRITE"
    POSITIONNEE = "POSITIONNEE"
    RETENUE = "RETENUE"
    NON_RETENUE = "NON_RETENUE"
    ABSENTE_IC = "ABSENTE_IC"
    ENTREE = "ENTREE"
    ABANDON = "ABANDON"
    ANNULEE = "ANNULEE"


class MotifNonRetenue(StrEnum):
    PREREQUIS_NON_ATTEINTS = "PREREQUIS_NON_ATTEINTS"
    PROJET_NON_VALIDE = "PROJET_NON_VALIDE"
    SESSION_COMPLETE = "SESSION_COMPLETE"
    CANDIDAT_INJOIGNABLE = "CANDIDAT_INJOIGNABLE"
    AUTRE = "AUTRE"


class MotifAbandon(StrEnum):
    CANDIDAT_DESISTE = "CANDIDAT_DESISTE"
    CANDIDAT_INJOIGNABLE = "CANDIDAT_INJOIGNABLE"
    EMPLOI_TROUVE = "EMPLOI_TROUVE"
    AUTRE = "AUTRE"


ResultatDecision = Literal["RETENUE", "NON_RETENUE", "ABSENTE_IC"]
Commentaire = Annotated[str, Field(min_length=1, max_length=1000, pattern=NO_CONTROL_PATTERN)]
_EMAIL_PART = r"[^@\s\x00-\x1f\x7f]+"
Email = Annotated[str, Field(max_length=254, pattern=f"^{_EMAIL_PART}@{_EMAIL_PART}$")]
Telephone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 .()-]{5,19}$")]
IdentifiantFt = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,20}$")]
NirText = Annotated[str, Field(min_length=1, max_length=40, pattern=NO_CONTROL_PATTERN)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


class Candidat(_Body):
    nom: Annotated[Name, Field(repr=False)]
    prenom: Annotated[Name, Field(repr=False)]
    date_naissance: Annotated[Day, Field(repr=False)]
    nir: Annotated[NirText | None, Field(repr=False)] = None
    identifiant_ft: Annotated[IdentifiantFt | None, Field(repr=False)] = None
    email: Annotated[Email | None, Field(repr=False)] = None
    telephone: Annotated[Telephone | None, Field(repr=False)] = None


class OrganismeRef(_Body):
    siret: Siret


class SessionRef(_Body):
    action_numero: Code
    session_numero: Code


class Creation(_Body):
    """`POST /orientations`: the prescripteur is the caller, never the body's."""

    candidat: Candidat
    organisme: OrganismeRef
    session: SessionRef


class Positionnement(_Body):
    date_information_collective: Day


class Decision(_Body):
    resultat: ResultatDecision
    motif: MotifNonRetenue | None = None
    commentaire: Commentaire | None = None


class Entree(_Body):
    date_entree: Day


class Abandon(_Body):
    date: Day
    motif: MotifAbandon
    commentaire: Commentaire | None = None


class AnnulationOrientation(_Body):
    """No field: the prescriber cancels."""


Change = Positionnement | Decision | Entree | Abandon | AnnulationOrientation


@dataclass(frozen=True, slots=True)
class Etape:
    """One line of the history: the state reached, when, and the role that moved it."""

    statut: StatutOrientation
    le: datetime
    par: str


@dataclass(frozen=True, slots=True)
class Etat:
    """What the state machine reads and writes of an orientation (the candidate, the
    organisme and the session never change after creation)."""

    statut: StatutOrientation
    version: int
    historique: tuple[Etape, ...]
    date_information_collective: date | None = None
    decision: Decision | None = None
    date_entree: date | None = None
    abandon: Abandon | None = None
