"""AGORA's dossier as the bridge models it, the operations that change it, and its rules.

`apply` is the model of AGORA's state machine (`agora-v2.md`): the planner is checked
against it, and the sync engine uses it to record what AGORA has acknowledged. It knows
nothing of the wire format (that is `agora_bridge/agora/`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from agora_bridge.snapshots.model import (
    MotifAnnulation,
    MotifSortie,
    Niveau2019,
    Sexe,
    Statut,
    TypeCertification,
)


@dataclass(frozen=True, slots=True)
class Titulaire:
    nir: str  # the 13-character body AGORA receives
    nom_naissance: str  # normalised for AGORA
    prenom: str
    date_naissance: date
    sexe: Sexe


@dataclass(frozen=True, slots=True)
class Fige:
    """What is fixed at creation: AGORA offers no call that changes it."""

    reference_financeur: str
    dispositif: str
    niveau_entree: Niveau2019
    siret: str
    action_numero: str
    formacode: str | None
    certification: tuple[TypeCertification, str] | None  # (type, code)
    session_numero: str
    session_debut: date
    session_fin: date
    duree_heures: Decimal
    date_validation: date


@dataclass(frozen=True, slots=True)
class SortieAgora:
    date: date
    motif: MotifSortie


@dataclass(frozen=True, slots=True)
class SoldeAgora:
    date: date
    heures_realisees_centre: Decimal
    heures_realisees_entreprise: Decimal
    taux_realisation: int
    taux_horaire_cents: int
    cout_pedagogique_cents: int


@dataclass(frozen=True, slots=True)
class AnnulationAgora:
    date: date
    motif: MotifAnnulation


@dataclass(frozen=True, slots=True)
class AgoraDossier:
    statut: Statut
    titulaire: Titulaire
    fige: Fige
    date_entree: date | None = None
    sortie: SortieAgora | None = None
    solde: SoldeAgora | None = None
    annulation: AnnulationAgora | None = None


# The operations, in the words of the annex's flows.
@dataclass(frozen=True, slots=True)
class Creer:
    titulaire: Titulaire
    fige: Fige


@dataclass(frozen=True, slots=True)
class Entrer:
    date_entree: date


@dataclass(frozen=True, slots=True)
class Sortir:
    sortie: SortieAgora


@dataclass(frozen=True, slots=True)
class Solder:
    solde: SoldeAgora


@dataclass(frozen=True, slots=True)
class Annuler:
    annulation: AnnulationAgora


@dataclass(frozen=True, slots=True)
class Rectifier:
    """One PATCH carrying every corrected field, so the dates are re-checked together."""

    titulaire: Titulaire | None = None
    date_entree: date | None = None
    sortie: SortieAgora | None = None


Operation = Creer | Entrer | Sortir | Solder | Annuler | Rectifier


class Refus(Exception):
    """AGORA would refuse the operation; `code` is AGORA's error code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# The forward transitions: operation → (state it applies to, state it leads to).
_TRANSITIONS: dict[type[Operation], tuple[frozenset[Statut], Statut]] = {
    Entrer: (frozenset({Statut.VALIDE}), Statut.ENTRE),
    Sortir: (frozenset({Statut.ENTRE}), Statut.SORTI),
    Solder: (frozenset({Statut.SORTI}), Statut.SOLDE),
    Annuler: (frozenset({Statut.VALIDE, Statut.ENTRE}), Statut.ANNULE),
}


def apply(dossier: AgoraDossier | None, op: Operation) -> AgoraDossier:
    """The dossier after AGORA accepts `op`; raises `Refus` where AGORA would refuse it."""
    if isinstance(op, Creer):
        if dossier is not None:
            raise Refus("DOSSIER_EXISTANT")
        return AgoraDossier(Statut.VALIDE, op.titulaire, op.fige)
    if dossier is None:
        raise Refus("DOSSIER_INCONNU")
    result = _rectify(dossier, op) if isinstance(op, Rectifier) else _transition(dossier, op)
    check_dates(result)
    return result


def _transition(dossier: AgoraDossier, op: Entrer | Sortir | Solder | Annuler) -> AgoraDossier:
    sources, target = _TRANSITIONS[type(op)]
    if dossier.statut is target:
        raise Refus("TRANSITION_DEJA_APPLIQUEE")
    if dossier.statut not in sources:
        raise Refus("TRANSITION_INVALIDE")
    match op:
        case Entrer(date_entree=day):
            return replace(dossier, statut=target, date_entree=day)
        case Sortir(sortie=sortie):
            return replace(dossier, statut=target, sortie=sortie)
        case Solder(solde=solde):
            return replace(dossier, statut=target, solde=solde)
        case Annuler(annulation=annulation):
            return replace(dossier, statut=target, annulation=annulation)


def _rectify(dossier: AgoraDossier, op: Rectifier) -> AgoraDossier:
    if dossier.statut is Statut.SOLDE:
        raise Refus("DOSSIER_SOLDE")
    allowed = {
        "titulaire": {Statut.VALIDE, Statut.ENTRE, Statut.SORTI},
        "date_entree": {Statut.ENTRE, Statut.SORTI},
        "sortie": {Statut.SORTI},
    }
    changes = {name: getattr(op, name) for name in allowed if getattr(op, name) is not None}
    if not changes or any(dossier.statut not in allowed[name] for name in changes):
        raise Refus("TRANSITION_INVALIDE")
    return replace(dossier, **changes)


def check_dates(d: AgoraDossier) -> None:
    """AGORA's date rules over the dossier as a whole."""
    fige = d.fige
    ordered = [
        d.date_entree is None or fige.session_debut <= d.date_entree <= fige.session_fin,
        d.sortie is None or d.date_entree is None or d.date_entree <= d.sortie.date,
        d.sortie is None or d.solde is None or d.sortie.date <= d.solde.date,
        d.annulation is None or fige.date_validation <= d.annulation.date,
    ]
    if not all(ordered):
        raise Refus("DATE_INCOHERENTE")
    if d.sortie is not None and d.sortie.date > fige.session_fin:
        raise Refus("SORTIE_APRES_FIN_SESSION")
