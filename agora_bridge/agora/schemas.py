"""AGORA V2 wire bodies (`agora-v2.md`), with the spec's French field names.

Bodies we send are strict (`extra="forbid"`, and the formats of `contracts/`): a misspelt
field or a malformed value fails here, not on AGORA. Business rules (NIR structure, SIRET
checksum, dates, costs) are not checked here: AGORA answers them with a 422 code.
Answers are tolerant (`extra="ignore"`) so that AGORA may add fields. The parts found in both
(a dossier's `titulaire`, `session`...) forbid unknown fields when we build them; `from_agora`
reads an answer ignoring unknown fields at every depth, and the client reads every answer
through it.

Hours travel as decimal strings (`"812.5"`), never floats; dates as `YYYY-MM-DD`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, NamedTuple, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from agora_bridge.snapshots.model import (
    MotifAnnulation,
    MotifSortie,
    Niveau2019,
    Sexe,
    Statut,
    TypeCertification,
)
from agora_bridge.snapshots.settlement import COUT_MAX_CENTS, HEURES_MAX, TAUX_HORAIRE_MAX_CENTS

__all__ = [
    "Action",
    "Annulation",
    "Certification",
    "Creation",
    "CreationAcceptee",
    "Dossier",
    "Entree",
    "Erreur",
    "Evenement",
    "Jeton",
    "LigneCompteRendu",
    "LigneLot",
    "Lot",
    "Organisme",
    "Probleme",
    "Recherche",
    "Rectification",
    "ResultatRecherche",
    "ResultatsRecherche",
    "Route",
    "Session",
    "Solde",
    "Sortie",
    "Titulaire",
    "TransitionAppliquee",
    "from_agora",
    "ndjson",
]


def _decimal_text(value: Decimal) -> str:
    # Plain notation without trailing zeros: "812.50" → "812.5"; `normalize()` alone would
    # turn 840 into "8.4E+2".
    return format(value.normalize(), "f")


# The formats of `contracts/agora-v2.openapi.json` (#/components/schemas).
Heures = Annotated[
    Decimal,
    Field(ge=0, le=HEURES_MAX, decimal_places=2, allow_inf_nan=False),
    PlainSerializer(_decimal_text, return_type=str, when_used="json"),
]
# The contract's documented maxima (settlement.py says why these).
TauxHoraireCents = Annotated[int, Field(ge=0, le=TAUX_HORAIRE_MAX_CENTS)]
CoutCents = Annotated[int, Field(ge=0, le=COUT_MAX_CENTS)]
Texte = Annotated[str, Field(min_length=1, max_length=100)]
Nir = Annotated[str, Field(pattern=r"^[0-9]{5}([0-9]{2}|2[AB])[0-9]{6}$")]
Nom = Annotated[str, Field(max_length=50, pattern=r"^[A-Z'-]+( [A-Z'-]+)*$")]
Siret = Annotated[str, Field(pattern=r"^[0-9]{14}$")]
CodeFinanceur = Annotated[str, Field(pattern=r"^[A-Z0-9_-]{1,32}$")]
ReferenceFinanceur = Annotated[str, Field(pattern=r"^[A-Za-z0-9._/-]{1,64}$")]
_CODE_CERTIFICATION = {"RNCP": r"RNCP[0-9]+", "RS": r"RS[0-9]+", "CERTIFINFO": r"[0-9]+"}


class _Requete(BaseModel):
    # A validation error must never quote the value: it may be a NIR or a name.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class _Reponse(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


class _SansNuls(_Requete):
    """A body whose absent optional fields are left out rather than sent as `null`."""

    _OMIS_SI_NULS: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _sans_nuls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None or k not in self._OMIS_SI_NULS}


class Route(NamedTuple):
    """Where a request body goes: the client sends it there, the annex's documents name it."""

    methode: str
    chemin: str  # relative to the base URL; `{id_agora}`, `{id_lot}`: the ids

    def __str__(self) -> str:
        return f"{self.methode} {self.chemin}"


# ---- Parts of a dossier -------------------------------------------------------------------


class Titulaire(_Requete):
    # Personal data stays out of reprs, so out of tracebacks and debug output.
    nir: Annotated[Nir, Field(repr=False)]
    nom_naissance: Annotated[Nom, Field(repr=False)]
    prenom: Annotated[Nom, Field(repr=False)]
    date_naissance: Annotated[date, Field(repr=False)]
    sexe: Sexe


class Certification(_Requete):
    type: TypeCertification
    code: Texte

    @model_validator(mode="after")
    def _code_du_type(self) -> Certification:
        if not re.fullmatch(_CODE_CERTIFICATION[self.type], self.code):
            raise ValueError(f"not a {self.type} code")
        return self


class Organisme(_Requete):
    siret: Siret


class Action(_Requete):
    numero: Texte
    formacode: Annotated[str, Field(pattern=r"^[0-9]{5}$")] | None = None
    certification: Certification | None = None


class Session(_Requete):
    numero: Texte
    date_debut: date
    date_fin: date
    duree_heures: Annotated[Heures, Field(gt=0)]


# ---- Request bodies -----------------------------------------------------------------------


class Creation(_Requete):
    """`POST /dossiers`. `formacode` and `certification` travel as `null` when unknown."""

    ROUTE: ClassVar[Route] = Route("POST", "/dossiers")

    reference_financeur: ReferenceFinanceur
    code_financeur: CodeFinanceur
    dispositif: Texte
    titulaire: Titulaire
    niveau_entree: Niveau2019
    organisme: Organisme
    action: Action
    session: Session
    date_validation: date


class Entree(_Requete):
    ROUTE: ClassVar[Route] = Route("POST", "/dossiers/{id_agora}/entree")

    date_entree: date


class Sortie(_Requete):
    ROUTE: ClassVar[Route] = Route("POST", "/dossiers/{id_agora}/sortie")

    date_sortie: date
    motif_sortie: MotifSortie


class Solde(_Requete):
    ROUTE: ClassVar[Route] = Route("POST", "/dossiers/{id_agora}/solde")

    date_solde: date
    heures_realisees_centre: Heures
    heures_realisees_entreprise: Heures
    taux_realisation: Annotated[int, Field(ge=0, le=100)]
    taux_horaire_cents: TauxHoraireCents
    cout_pedagogique_cents: CoutCents


class Annulation(_Requete):
    ROUTE: ClassVar[Route] = Route("POST", "/dossiers/{id_agora}/annulation")

    date_annulation: date
    motif_annulation: MotifAnnulation


class Rectification(_SansNuls):
    """`PATCH /dossiers/{id_agora}`: only the fields given are sent."""

    ROUTE: ClassVar[Route] = Route("PATCH", "/dossiers/{id_agora}")

    _OMIS_SI_NULS = frozenset({"titulaire", "date_entree", "date_sortie", "motif_sortie"})

    titulaire: Titulaire | None = None
    date_entree: date | None = None
    date_sortie: date | None = None
    motif_sortie: MotifSortie | None = None

    @model_validator(mode="after")
    def _au_moins_un_champ(self) -> Rectification:
        if all(getattr(self, name) is None for name in self._OMIS_SI_NULS):
            raise ValueError("a rectification changes at least one field")
        return self


class Recherche(_SansNuls):
    """`POST /dossiers/recherche`: by `reference_financeur`, or by `nir` and `numero_session`."""

    ROUTE: ClassVar[Route] = Route("POST", "/dossiers/recherche")

    _OMIS_SI_NULS = frozenset({"reference_financeur", "nir", "numero_session"})

    reference_financeur: ReferenceFinanceur | None = None
    nir: Annotated[Nir | None, Field(repr=False)] = None
    numero_session: Texte | None = None

    @model_validator(mode="after")
    def _une_seule_forme(self) -> Recherche:
        given = {name for name in self._OMIS_SI_NULS if getattr(self, name) is not None}
        if given not in ({"reference_financeur"}, {"nir", "numero_session"}):
            raise ValueError("search by reference_financeur, or by nir and numero_session")
        return self


class LigneLot(Creation, _SansNuls):
    """One line of a lot: a creation plus the stages that give the dossier its final state."""

    ROUTE: ClassVar[Route] = Route("POST", "/lots")  # NDJSON, one line a dossier

    _OMIS_SI_NULS = frozenset({"entree", "sortie", "solde", "annulation"})

    entree: Entree | None = None
    sortie: Sortie | None = None
    solde: Solde | None = None
    annulation: Annulation | None = None


# ---- Answers ------------------------------------------------------------------------------


class Jeton(_Reponse):
    access_token: Annotated[str, Field(repr=False)]
    token_type: str = "Bearer"  # noqa: S105 (the scheme, not a secret)
    expires_in: Annotated[int, Field(gt=0)]


class ResultatRecherche(_Reponse):
    id_agora: str
    code_financeur: str
    reference_financeur: str
    statut: Statut


class ResultatsRecherche(_Reponse):
    resultats: list[ResultatRecherche]


class CreationAcceptee(_Reponse):
    id_agora: str
    statut: Statut


class TransitionAppliquee(_Reponse):
    """The answer to a transition: the dossier's new state."""

    statut: Statut


class Evenement(_Reponse):
    """One operation AGORA applied to a dossier."""

    operation: str  # CREATION, ENTREE, SORTIE, SOLDE, ANNULATION, RECTIFICATION
    horodatage: datetime
    request_id: str | None = None
    id_lot: str | None = None  # when it came from a lot
    champs: list[str] = Field(default_factory=list)  # RECTIFICATION: the fields changed


class Dossier(LigneLot):
    """`GET /dossiers/{id_agora}`, and the `dossier` of `409 TRANSITION_DEJA_APPLIQUEE`.

    The content has the shape of a lot line (the creation body plus the stages applied),
    with AGORA's id, state and history. Read it with `from_agora`, so that fields AGORA adds
    inside its parts are ignored too.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    id_agora: str
    statut: Statut
    historique: list[Evenement] = Field(default_factory=list)


class Lot(_Reponse):
    id_lot: str
    statut: Literal["RECU", "EN_COURS", "TRAITE"]
    nb_lignes: int
    nb_acceptees: int | None = None
    nb_rejetees: int | None = None
    nb_doublons: int | None = None


class Erreur(_Reponse):
    champ: str | None = None  # a dotted path; "" for the whole body
    code: str
    # AGORA's wording may quote the rejected value (a NIR): never put it in a log or message.
    message: Annotated[str | None, Field(repr=False)] = None


class LigneCompteRendu(_Reponse):
    ligne: int
    # A line that was not JSON has no reference.
    reference_financeur: str | None = None
    resultat: Literal["ACCEPTE", "REJETE", "DOUBLON"]
    id_agora: str | None = None
    erreurs: list[Erreur] = Field(default_factory=list)


class Probleme(_Reponse):
    """An RFC 9457 problem+json error body."""

    type: str = "about:blank"
    title: str | None = None
    status: int | None = None
    code: str | None = None
    detail: Annotated[str | None, Field(repr=False)] = None
    erreurs: list[Erreur] = Field(default_factory=list)


def ndjson(lignes: Sequence[LigneLot]) -> bytes:
    """A lot's body: one JSON object a line."""
    return b"".join(ligne.model_dump_json().encode() + b"\n" for ligne in lignes)


_Modele = TypeVar("_Modele", bound=BaseModel)


def from_agora(model: type[_Modele], data: bytes | str | dict[str, Any]) -> _Modele:
    """An answer of AGORA as `model`, ignoring unknown fields at every depth."""
    if isinstance(data, dict):
        return model.model_validate(data, extra="ignore")
    return model.model_validate_json(data, extra="ignore")
