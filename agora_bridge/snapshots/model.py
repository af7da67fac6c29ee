"""The Région dossier snapshot (`region-input.md`), parsed and field-checked by pydantic.

Field rules that concern one field live here (as types, constraints and validators raising
`PydanticCustomError` whose type is our error code); rules across fields live in
`validation.py`. Types are strict where pydantic alone is lax: dates only as `YYYY-MM-DD`
text, hours only as the spec writes them. The NIR is only typed here (and held to the
control-character rule once normalised): a bad NIR holds a dossier, it never rejects it.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from agora_bridge.snapshots.nir import normalise_nir
from agora_bridge.snapshots.settlement import HEURES_MAX, TAUX_HORAIRE_MAX_CENTS
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


# No control character in a text field (U+0000-U+001F, U+007F). A pattern rather than a
# Python validator: it runs in pydantic's core, on every text field of every line.
_CONTROL = r"\x00-\x1f\x7f"
NO_CONTROL_PATTERN = f"^[^{_CONTROL}]*$"
_CONTROL_CHARACTER = re.compile(f"[{_CONTROL}]")
ID_DOSSIER = re.compile(r"[A-Za-z0-9._/-]{1,64}")
# The version is stored in a 64-bit column.
VERSION_MAX = 2**63 - 1
# Hours as text: ASCII digits, an optional `.` and at most 2 decimals.
HOURS_TEXT = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")
# pydantic hands JSON numbers to validators as binary floats, their text lost (`1e3` reads
# as 1000.0): the hours validator records that it saw one under this key of the validation
# context, and `validation.parse_line`, which has the line, checks the numbers' text.
FLOAT_SEEN = "float_hours_seen"
HOURS_FIELDS = (
    "session.duree_heures",
    "solde.heures_realisees_centre",
    "solde.heures_realisees_entreprise",
)
_DAY_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _control_free_nir(value: str) -> str:
    # The NIR is normalised first (separators and white space go), then held to the rule.
    if _CONTROL_CHARACTER.search(normalise_nir(value)):
        raise PydanticCustomError("CARACTERE_CONTROLE", "a control character")
    return value


def _hours(value: object, info: ValidationInfo) -> Decimal:
    """`region-input.md`'s hours, exact, from 0 to `HEURES_MAX`.

    Checked here rather than by pydantic's constraints: a Python validator in front of a
    constrained decimal costs more than the whole check.
    """
    if isinstance(value, str) and HOURS_TEXT.fullmatch(value):  # the usual case, first
        hours = Decimal(value)
    else:
        hours = _hours_of_number(value, info)
    # `is_signed`: -0.0 is not below 0, yet it carries a sign the spec forbids and AGORA's
    # format refuses ("-0" in a body).
    if hours > HEURES_MAX or hours < 0 or hours.is_signed():
        raise PydanticCustomError("VALEUR_HORS_LIMITES", "hours: 0 to 9999.99")
    return hours


def _positive_hours(value: object, info: ValidationInfo) -> Decimal:
    hours = _hours(value, info)
    if hours == 0:
        raise PydanticCustomError("VALEUR_HORS_LIMITES", "hours: more than 0")
    return hours


def _hours_of_number(value: object, info: ValidationInfo) -> Decimal:
    if isinstance(value, float):
        if isinstance(info.context, dict):
            info.context[FLOAT_SEEN] = True
        value = Decimal(repr(value)) if math.isfinite(value) else None  # its shortest text
    elif isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    if isinstance(value, Decimal) and value.is_finite() and _decimals(value) <= 2:
        return value
    raise PydanticCustomError("FORMAT_INVALIDE", "hours: digits, at most 2 decimals")


def _decimals(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _day(value: object) -> object:
    # pydantic alone also reads a number, or a date with a zero time, as a date.
    if type(value) is date or (isinstance(value, str) and _DAY_TEXT.fullmatch(value)):
        return value
    raise PydanticCustomError("DATE_INVALIDE", "a YYYY-MM-DD date")


def _timestamp(value: object) -> object:
    # pydantic alone also reads "1550000000" as a time; the spec wants ISO 8601 text.
    if isinstance(value, datetime) or (isinstance(value, str) and _TIMESTAMP_TEXT.fullmatch(value)):
        return value
    raise PydanticCustomError("DATE_INVALIDE", "a timestamp with an offset")


Heures = Annotated[Decimal, BeforeValidator(_hours)]
HeuresPositives = Annotated[Decimal, BeforeValidator(_positive_hours)]
Code = Annotated[str, Field(min_length=1, max_length=100, pattern=NO_CONTROL_PATTERN)]
Text = Annotated[str, Field(min_length=1, max_length=250, pattern=NO_CONTROL_PATTERN)]
Name = Annotated[str, Field(min_length=1, max_length=80, pattern=NO_CONTROL_PATTERN)]
Day = Annotated[date, BeforeValidator(_day)]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_timestamp)]
Nir = Annotated[str, AfterValidator(_control_free_nir)]
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
    nir: Annotated[Nir | None, Field(repr=False)] = None
    nom_naissance: Annotated[Name, Field(repr=False)]
    prenom: Annotated[Name, Field(repr=False)]
    date_naissance: Annotated[Day, Field(repr=False)]
    sexe: Sexe
    niveau_entree: NiveauEntree


class Programme(_Part):
    code: Code
    dispositif: Code
    consultation: Code | None = None
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
    code: Code

    def code_is_well_formed(self) -> bool:
        return _CERTIFICATION_CODE[self.type].fullmatch(self.code) is not None


class Action(_Part):
    numero: Code
    intitule: Text
    formacode: Annotated[str, Field(pattern=r"^[0-9]{5}$")] | None = None
    certification: Certification | None = None


class Session(_Part):
    numero: Code
    date_debut: Day
    date_fin: Day
    duree_heures: HeuresPositives
    departement: Departement


class Sortie(_Part):
    date: Day
    motif: MotifSortie


class Solde(_Part):
    date: Day
    heures_realisees_centre: Heures
    heures_realisees_entreprise: Heures


class Annulation(_Part):
    date: Day
    motif: MotifAnnulation


class Snapshot(_Part):
    id_dossier: Annotated[str, Field(pattern=f"^{ID_DOSSIER.pattern}$")]
    version: Annotated[int, Field(ge=1, le=VERSION_MAX, strict=True)]
    date_maj: Timestamp
    stagiaire: Stagiaire
    programme: Programme
    organisme: Organisme
    action: Action
    session: Session
    taux_horaire_cents: Annotated[Cents, Field(le=TAUX_HORAIRE_MAX_CENTS)]
    statut: Statut
    date_validation: Day
    date_entree: Day | None = None
    sortie: Sortie | None = None
    solde: Solde | None = None
    annulation: Annulation | None = None

    @property
    def entry_date(self) -> date:
        """The entry date of the perimeter and age rules: actual entry, else session start."""
        return self.date_entree or self.session.date_debut
