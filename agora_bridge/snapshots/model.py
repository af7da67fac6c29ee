"""The Région dossier snapshot (`region-input.md`), parsed and field-checked by pydantic.

Field rules that concern one field live here (as types and `AfterValidator`s raising
`PydanticCustomError` whose type is our error code); rules across fields live in
`validation.py`. The NIR is only typed here: a bad NIR holds a dossier, it never rejects it.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from agora_bridge.snapshots.siret import is_valid_siret


class Statut(StrEnum):
    VALIDE = "VALIDE"
    ENTRE = "ENTRE"
    SORTI = "SORTI"
    SOLDE = "SOLDE"
    ANNULE = "ANNULE"


class Categorie(StrEnum):
    QUALIFIANT = "QUALIFIANT"
    PREPARATOIRE = "PREPARATOIRE"
    SANITAIRE_SOCIAL = "SANITAIRE_SOCIAL"
    PSAD = "PSAD"
    DETENUS = "DETENUS"
    REMUNERATION_CRP = "REMUNERATION_CRP"
    AIDE_INDIVIDUELLE = "AIDE_INDIVIDUELLE"
    VAE = "VAE"


MotifSortie = Literal[
    "FIN_FORMATION",
    "ABANDON",
    "ACCES_EMPLOI",
    "EXCLUSION",
    "INTERRUPTION_ORGANISME",
    "FORCE_MAJEURE",
]
MotifAnnulation = Literal["DESISTEMENT", "ERREUR_SAISIE", "SESSION_ANNULEE", "AUTRE"]
Niveau2019 = Literal["1", "2", "3", "4", "5", "6", "7", "8"]
NiveauEntree = Literal[Niveau2019, "VI", "Vbis", "V", "IV", "III", "II", "I"]
Sexe = Literal["M", "F"]
TypeCertification = Literal["RNCP", "RS", "CERTIFINFO"]
Departement = Literal["44", "49", "53", "72", "85"]

_CERTIFICATION_CODE = {
    "RNCP": re.compile(r"RNCP[0-9]+"),
    "RS": re.compile(r"RS[0-9]+"),
    "CERTIFINFO": re.compile(r"[0-9]+"),
}


def _siret(value: str) -> str:
    if not is_valid_siret(value):
        raise PydanticCustomError("SIRET_INVALIDE", "SIRET: 14 digits with a valid checksum")
    return value


Text = Annotated[str, Field(min_length=1)]
Name = Annotated[str, Field(min_length=1, max_length=80)]
# Hours are exact decimals: pydantic reads JSON numbers through their text, never a float.
Heures = Annotated[Decimal, Field(ge=0, decimal_places=2, allow_inf_nan=False)]
Siret = Annotated[str, AfterValidator(_siret)]
Cents = Annotated[int, Field(ge=0, strict=True)]
# The annex's "Interface AGORA" attribute as set on one object; null: not set on that one.
InterfaceAgora = Annotated[bool | None, Field(strict=True)]


class _Part(BaseModel):
    # Unknown fields are ignored: the Région's export will grow. Errors never quote the
    # input, which may be a NIR or a name.
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


class Stagiaire(_Part):
    # Personal data stays out of reprs, so out of tracebacks and debug output.
    nir: str | None = Field(default=None, repr=False)
    nom_naissance: Annotated[Name, Field(repr=False)]
    prenom: Annotated[Name, Field(repr=False)]
    date_naissance: Annotated[date, Field(repr=False)]
    sexe: Sexe
    niveau_entree: NiveauEntree


class Programme(_Part):
    code: Text
    dispositif: Text
    consultation: str | None = None
    categorie: Categorie
    # The attribute on the programme, the consultation and the dispositif; which one decides
    # is a perimeter rule (`perimeter.interface_agora`). The programme's key stays required
    # (only its type changed); the table marks the two others optional.
    interface_agora: InterfaceAgora
    interface_agora_consultation: InterfaceAgora = None
    interface_agora_dispositif: InterfaceAgora = None


class Organisme(_Part):
    siret: Siret
    raison_sociale: Text


class Certification(_Part):
    type: TypeCertification
    code: Text

    def code_is_well_formed(self) -> bool:
        return _CERTIFICATION_CODE[self.type].fullmatch(self.code) is not None


class Action(_Part):
    numero: Text
    intitule: Text
    formacode: Annotated[str, Field(pattern=r"^[0-9]{5}$")] | None = None
    certification: Certification | None = None


class Session(_Part):
    numero: Text
    date_debut: date
    date_fin: date
    duree_heures: Annotated[Heures, Field(gt=0)]
    departement: Departement


class Sortie(_Part):
    date: date
    motif: MotifSortie


class Solde(_Part):
    date: date
    heures_realisees_centre: Heures
    heures_realisees_entreprise: Heures


class Annulation(_Part):
    date: date
    motif: MotifAnnulation


class Snapshot(_Part):
    id_dossier: Annotated[str, Field(pattern=r"^[A-Za-z0-9._/-]{1,64}$")]
    version: Annotated[int, Field(ge=1, strict=True)]
    date_maj: AwareDatetime
    stagiaire: Stagiaire
    programme: Programme
    organisme: Organisme
    action: Action
    session: Session
    taux_horaire_cents: Cents
    statut: Statut
    date_validation: date
    date_entree: date | None = None
    sortie: Sortie | None = None
    solde: Solde | None = None
    annulation: Annulation | None = None

    @property
    def entry_date(self) -> date:
        """The entry date of the perimeter and age rules: actual entry, else session start."""
        return self.date_entree or self.session.date_debut
