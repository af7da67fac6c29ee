"""The bodies AGORA accepts, as pydantic models mirroring `contracts/agora-v2.openapi.json`.

A body these models refuse is `400 FORMAT_INVALIDE`, exactly as one the contract's schema
refuses (tests check both on the same samples). The mock parses with pydantic rather than
with the JSON Schema files because it must check 10,000 lot lines in well under a second.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from agora_bridge.snapshots.settlement import COUT_MAX_CENTS, TAUX_HORAIRE_MAX_CENTS
from mocks.problems import FORMAT_INVALIDE, Erreur


def _positive(value: str) -> str:
    if Decimal(value) == 0:
        raise ValueError("nombre d'heures strictement positif attendu")
    return value


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: object) -> object:
    # pydantic's own date parsing also reads "0" or "1551657600" as a timestamp; the
    # contract's Date is YYYY-MM-DD only. A date object passes the strict check below.
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return date.fromisoformat(value)
    return value


def _integral(value: object) -> object:
    # JSON Schema counts 5.0 as an integer; strict pydantic would refuse it.
    return int(value) if isinstance(value, float) and value.is_integer() else value


# Strict: lax pydantic would also take a timestamp or a datetime string for a date, and
# "5" or true for an integer.
Date = Annotated[date, Strict(), BeforeValidator(_iso_date)]
# At most 4 integer digits: at most HEURES_MAX, 9999.99, the bound of region-input.md.
Heures = Annotated[str, Field(pattern=r"^[0-9]{1,4}(\.[0-9]{1,2})?$")]
HeuresPositives = Annotated[Heures, AfterValidator(_positive)]
Entier = Annotated[int, Strict(), BeforeValidator(_integral)]
Centimes = Annotated[Entier, Field(ge=0)]
Nir = Annotated[str, Field(pattern=r"^[0-9]{5}([0-9]{2}|2[AB])[0-9]{6}$")]
Siret = Annotated[str, Field(pattern=r"^[0-9]{14}$")]
CodeFinanceur = Annotated[str, Field(pattern=r"^[A-Z0-9_-]{1,32}$")]
ReferenceFinanceur = Annotated[str, Field(pattern=r"^[A-Za-z0-9._/-]{1,64}$")]
Nom = Annotated[str, Field(max_length=50, pattern=r"^[A-Z'-]+( [A-Z'-]+)*$")]
Texte = Annotated[str, Field(min_length=1, max_length=100)]
Statut = Literal["VALIDE", "ENTRE", "SORTI", "SOLDE", "ANNULE"]
MotifSortie = Literal[
    "FIN_FORMATION",
    "ABANDON",
    "ACCES_EMPLOI",
    "EXCLUSION",
    "INTERRUPTION_ORGANISME",
    "FORCE_MAJEURE",
]
MotifAnnulation = Literal["DESISTEMENT", "ERREUR_SAISIE", "SESSION_ANNULEE", "AUTRE"]
_CERTIFICATION_CODE = {
    "RNCP": re.compile(r"RNCP[0-9]+"),
    "RS": re.compile(r"RS[0-9]+"),
    "CERTIFINFO": re.compile(r"[0-9]+"),
}


class _Body(BaseModel):
    # additionalProperties: false, as in the contract.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Titulaire(_Body):
    nir: Nir = Field(repr=False)
    nom_naissance: Nom = Field(repr=False)
    prenom: Nom = Field(repr=False)
    date_naissance: Date = Field(repr=False)
    sexe: Literal["M", "F"]


class Organisme(_Body):
    siret: Siret


class Certification(_Body):
    type: Literal["RNCP", "RS", "CERTIFINFO"]
    code: str

    @field_validator("code")
    @classmethod
    def _code_matches_type(cls, code: str, info: ValidationInfo) -> str:
        kind = info.data.get("type")  # absent when the type itself was refused
        if kind is not None and not _CERTIFICATION_CODE[kind].fullmatch(code):
            raise ValueError("code incompatible avec le type de certification")
        return code


class Action(_Body):
    numero: Texte
    formacode: Annotated[str, Field(pattern=r"^[0-9]{5}$")] | None = None
    certification: Certification | None = None


class Session(_Body):
    numero: Texte
    date_debut: Date
    date_fin: Date
    duree_heures: HeuresPositives


class Creation(_Body):
    reference_financeur: ReferenceFinanceur
    code_financeur: CodeFinanceur
    dispositif: Texte
    titulaire: Titulaire
    niveau_entree: Literal["1", "2", "3", "4", "5", "6", "7", "8"]
    organisme: Organisme
    action: Action
    session: Session
    date_validation: Date


class Entree(_Body):
    date_entree: Date


class Sortie(_Body):
    date_sortie: Date
    motif_sortie: MotifSortie


class Solde(_Body):
    date_solde: Date
    heures_realisees_centre: Heures
    heures_realisees_entreprise: Heures
    taux_realisation: Annotated[Entier, Field(ge=0, le=100)]
    # Bounded so that every amount is exact in any arithmetic (see settlement.py).
    taux_horaire_cents: Annotated[Centimes, Field(le=TAUX_HORAIRE_MAX_CENTS)]
    cout_pedagogique_cents: Annotated[Centimes, Field(le=COUT_MAX_CENTS)]


class Annulation(_Body):
    date_annulation: Date
    motif_annulation: MotifAnnulation


class LigneLot(Creation):
    """A lot line: the creation body plus the steps that give the dossier's final state."""

    entree: Entree | None = None
    sortie: Sortie | None = None
    solde: Solde | None = None
    annulation: Annulation | None = None


class Rectification(_Body):
    titulaire: Titulaire | None = None
    date_entree: Date | None = None
    date_sortie: Date | None = None
    motif_sortie: MotifSortie | None = None


class Recherche(_Body):
    reference_financeur: ReferenceFinanceur | None = None
    nir: Nir | None = None
    numero_session: Texte | None = None


def format_errors(error: ValidationError) -> list[Erreur]:
    """pydantic's errors as AGORA's, without the rejected values (they may be personal)."""
    return [
        Erreur(
            champ=".".join(str(part) for part in detail["loc"]),
            code=FORMAT_INVALIDE,
            message=detail["msg"],
        )
        for detail in error.errors(include_url=False, include_input=False, include_context=False)
    ]


def _explicit_nulls(body: BaseModel) -> list[Erreur]:
    # Optional fields may be absent, never null: the contract types them non-null. (A
    # "before" validator would do it in the model, but it makes pydantic re-validate the
    # nested objects in Python mode, where a strict date refuses a string.)
    return [
        Erreur(name, FORMAT_INVALIDE, "null interdit: omettre le champ")
        for name in sorted(body.model_fields_set)
        if getattr(body, name) is None
    ]


def final_state_errors(ligne: LigneLot) -> list[Erreur]:
    """The contract's dependentRequired/dependentSchemas: each step needs the previous one."""
    nulls = [
        erreur
        for erreur in _explicit_nulls(ligne)
        if erreur.champ in {"entree", "sortie", "solde", "annulation"}
    ]
    if nulls:
        return nulls
    missing = [
        (step, needed)
        for step, needed in (("sortie", "entree"), ("solde", "sortie"))
        if getattr(ligne, step) is not None and getattr(ligne, needed) is None
    ]
    erreurs = [Erreur(step, FORMAT_INVALIDE, f"{step} exige {needed}") for step, needed in missing]
    if ligne.annulation is not None and (ligne.sortie is not None or ligne.solde is not None):
        erreurs.append(
            Erreur("annulation", FORMAT_INVALIDE, "annulation impossible après une sortie")
        )
    return erreurs


def recherche_errors(recherche: Recherche) -> list[Erreur]:
    """The contract's oneOf: a reference alone, or a NIR with a session number."""
    if nulls := _explicit_nulls(recherche):
        return nulls
    given = recherche.model_fields_set
    if given in ({"reference_financeur"}, {"nir", "numero_session"}):
        return []
    message = "attendu: {reference_financeur} ou {nir, numero_session}"
    return [Erreur("", FORMAT_INVALIDE, message)]


def rectification_errors(rectification: Rectification) -> list[Erreur]:
    if nulls := _explicit_nulls(rectification):
        return nulls
    if rectification.model_fields_set:
        return []
    return [Erreur("", FORMAT_INVALIDE, "au moins un champ à rectifier")]
