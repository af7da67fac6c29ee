"""From the bridge's model of a dossier to AGORA's wire bodies, and back.

The planner speaks in `decision.dossier` terms (operations, `AgoraDossier`); this module is
the one place that turns them into the bodies of `agora-v2.md`, and reads AGORA's view of a
dossier (`GET`, the body of `409 TRANSITION_DEJA_APPLIQUEE`) back into our model. The values
are AGORA's already (13-character NIR, names normalised, 2019 level, settlement computed:
`decision/projection.py`); here fields are named and nested as AGORA wants them.

Each body is a table (`Corps`) of its fields and where in our model each reads: the bodies
are built from these tables, and the annex's field correspondence (`agora-bridge
doc-mapping`) is printed from them, so that the document is the code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel

from agora_bridge.agora import schemas as wire
from agora_bridge.agora.schemas import from_agora
from agora_bridge.decision.dossier import (
    AgoraDossier,
    AnnulationAgora,
    Annuler,
    Creer,
    Entrer,
    Fige,
    Operation,
    Rectifier,
    SoldeAgora,
    Solder,
    SortieAgora,
    Sortir,
    Titulaire,
)
from agora_bridge.snapshots.model import Statut, TypeCertification

TransitionBody = wire.Entree | wire.Sortie | wire.Solde | wire.Annulation
Body = wire.Creation | TransitionBody | wire.Rectification
_M = TypeVar("_M", bound=BaseModel)
_NONE: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Champ:
    """A field of an AGORA body, and where it reads in the object the body is built from."""

    agora: str
    source: str  # a dotted path; "" for the object itself
    corps: Corps[Any] | None = None  # an object field, built by its own table
    # A value AGORA writes in another shape (a certification is a pair in our model).
    forme: Callable[[Any], Any] | None = None
    _path: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_path", tuple(self.source.split(".")) if self.source else ())

    def valeur(self, obj: object) -> Any:
        value = _read(obj, self._path)
        if value is None:
            return None  # an absent part travels as null, or is left out (`_SansNuls`)
        if self.corps is not None:
            return self.corps.valeurs(value)
        return self.forme(value) if self.forme is not None else value


@dataclass(frozen=True, slots=True)
class Corps(Generic[_M]):
    """A body (or one of its objects): its model and its fields. `configuration` names the
    fields that come from the settings rather than the dossier."""

    modele: type[_M]
    champs: tuple[Champ, ...]
    configuration: tuple[str, ...] = ()

    def construire(self, source: object, configuration: Mapping[str, str] = _NONE) -> _M:
        # Validated once, nested objects included: a model built per object cost a lot
        # line (seven objects) three times as much.
        return self.modele.model_validate(self.valeurs(source, configuration))

    def valeurs(self, source: object, configuration: Mapping[str, str] = _NONE) -> dict[str, Any]:
        """The body's fields read from `source`, its objects as dicts (not validated yet)."""
        values = {champ.agora: champ.valeur(source) for champ in self.champs}
        for name in self.configuration:
            values[name] = configuration[name]
        return values


def _read(obj: object, path: tuple[str, ...]) -> Any:
    # A missing part (no exit yet) reads as None all the way down.
    for name in path:
        if obj is None:
            return None
        obj = getattr(obj, name)
    return obj


def _memes(*names: str) -> tuple[Champ, ...]:
    """Fields AGORA names as our model does."""
    return tuple(Champ(name, name) for name in names)


def _certification(pair: tuple[TypeCertification, str]) -> dict[str, Any]:
    # Validated with its body (`Corps.construire`), once.
    return {"type": pair[0], "code": pair[1]}


TITULAIRE = Corps(
    wire.Titulaire, _memes("nir", "nom_naissance", "prenom", "date_naissance", "sexe")
)
ACTION = Corps(
    wire.Action,
    (
        Champ("numero", "action_numero"),
        Champ("formacode", "formacode"),
        Champ("certification", "certification", forme=_certification),
    ),
)
SESSION = Corps(
    wire.Session,
    (
        Champ("numero", "session_numero"),
        Champ("date_debut", "session_debut"),
        Champ("date_fin", "session_fin"),
        Champ("duree_heures", "duree_heures"),
    ),
)
# Read from a `Creer`, or from an `AgoraDossier` (a lot line): both name their parts alike.
_CREATION = (
    Champ("reference_financeur", "fige.reference_financeur"),
    Champ("dispositif", "fige.dispositif"),
    Champ("titulaire", "titulaire", TITULAIRE),
    Champ("niveau_entree", "fige.niveau_entree"),
    Champ("organisme", "fige", Corps(wire.Organisme, _memes("siret"))),
    Champ("action", "fige", ACTION),
    Champ("session", "fige", SESSION),
    Champ("date_validation", "fige.date_validation"),
)
CREATION = Corps(wire.Creation, _CREATION, configuration=("code_financeur",))
ENTREE = Corps(wire.Entree, (Champ("date_entree", ""),))  # from the entry date itself
SORTIE = Corps(wire.Sortie, (Champ("date_sortie", "date"), Champ("motif_sortie", "motif")))
SOLDE = Corps(
    wire.Solde,
    (
        Champ("date_solde", "date"),
        *_memes(
            "heures_realisees_centre",
            "heures_realisees_entreprise",
            "taux_realisation",
            "taux_horaire_cents",
            "cout_pedagogique_cents",
        ),
    ),
)
ANNULATION = Corps(
    wire.Annulation, (Champ("date_annulation", "date"), Champ("motif_annulation", "motif"))
)
RECTIFICATION = Corps(
    wire.Rectification,
    (
        Champ("titulaire", "titulaire", TITULAIRE),
        Champ("date_entree", "date_entree"),
        Champ("date_sortie", "sortie.date"),
        Champ("motif_sortie", "sortie.motif"),
    ),
)
# A backfill line: the creation plus the stages that give the final state, from the dossier.
LIGNE_LOT = Corps(
    wire.LigneLot,
    (
        *_CREATION,
        Champ("entree", "date_entree", ENTREE),
        Champ("sortie", "sortie", SORTIE),
        Champ("solde", "solde", SOLDE),
        Champ("annulation", "annulation", ANNULATION),
    ),
    configuration=("code_financeur",),
)


@dataclass(frozen=True, slots=True)
class Appel:
    """The AGORA call that carries an operation: its route and its body's table, built from
    the operation's part at `racine` (the same path in `AgoraDossier`; "" for the whole)."""

    route: wire.Route
    corps: Corps[Any]
    racine: str


APPELS: dict[type[Operation], Appel] = {
    Creer: Appel(wire.Creation.ROUTE, CREATION, ""),
    Entrer: Appel(wire.Entree.ROUTE, ENTREE, "date_entree"),
    Sortir: Appel(wire.Sortie.ROUTE, SORTIE, "sortie"),
    Solder: Appel(wire.Solde.ROUTE, SOLDE, "solde"),
    Annuler: Appel(wire.Annulation.ROUTE, ANNULATION, "annulation"),
    Rectifier: Appel(wire.Rectification.ROUTE, RECTIFICATION, ""),
}


def body_for(op: Operation, *, code_financeur: str) -> Body:
    """The request body of one operation."""
    appel = APPELS[type(op)]
    source = getattr(op, appel.racine) if appel.racine else op
    return cast(Body, appel.corps.construire(source, {"code_financeur": code_financeur}))


def creation(titulaire: Titulaire, fige: Fige, *, code_financeur: str) -> wire.Creation:
    return CREATION.construire(Creer(titulaire, fige), {"code_financeur": code_financeur})


def lot_line(dossier: AgoraDossier, *, code_financeur: str) -> wire.LigneLot:
    """A backfill line: the creation body plus the stages that give the final state."""
    return LIGNE_LOT.construire(dossier, {"code_financeur": code_financeur})


def from_lot_line(line: bytes) -> AgoraDossier:
    """The dossier a lot line creates when AGORA accepts it: its final state."""
    content = json.loads(line)
    statut = next(
        (statut for stage, statut in _FINAL_STAGES if content.get(stage) is not None),
        Statut.VALIDE,
    )
    return from_wire(from_agora(wire.Dossier, {**content, "id_agora": "-", "statut": statut}))


# The stage of a lot line that decides its state, the last of the state machine first.
_FINAL_STAGES = (
    ("annulation", Statut.ANNULE),
    ("solde", Statut.SOLDE),
    ("sortie", Statut.SORTI),
    ("entree", Statut.ENTRE),
)


def from_wire(d: wire.Dossier) -> AgoraDossier:
    """AGORA's view of a dossier in our model, to compare with what we meant to send."""
    return AgoraDossier(
        statut=d.statut,
        titulaire=Titulaire(
            nir=d.titulaire.nir,
            nom_naissance=d.titulaire.nom_naissance,
            prenom=d.titulaire.prenom,
            date_naissance=d.titulaire.date_naissance,
            sexe=d.titulaire.sexe,
        ),
        fige=_fige(d),
        date_entree=d.entree.date_entree if d.entree else None,
        sortie=SortieAgora(d.sortie.date_sortie, d.sortie.motif_sortie) if d.sortie else None,
        solde=_solde_from_wire(d.solde) if d.solde else None,
        annulation=AnnulationAgora(d.annulation.date_annulation, d.annulation.motif_annulation)
        if d.annulation
        else None,
    )


def _fige(d: wire.Dossier) -> Fige:
    certification = d.action.certification
    return Fige(
        reference_financeur=d.reference_financeur,
        dispositif=d.dispositif,
        niveau_entree=d.niveau_entree,
        siret=d.organisme.siret,
        action_numero=d.action.numero,
        formacode=d.action.formacode,
        certification=(certification.type, certification.code) if certification else None,
        session_numero=d.session.numero,
        session_debut=d.session.date_debut,
        session_fin=d.session.date_fin,
        duree_heures=d.session.duree_heures,
        date_validation=d.date_validation,
    )


def _solde_from_wire(s: wire.Solde) -> SoldeAgora:
    return SoldeAgora(
        date=s.date_solde,
        heures_realisees_centre=s.heures_realisees_centre,
        heures_realisees_entreprise=s.heures_realisees_entreprise,
        taux_realisation=s.taux_realisation,
        taux_horaire_cents=s.taux_horaire_cents,
        cout_pedagogique_cents=s.cout_pedagogique_cents,
    )
