"""AGORA's dossier as the bridge models it, the operations that change it, and its rules.

`apply` is the model of AGORA's state machine (`agora-v2.md`): the planner is checked
against it, and the sync engine uses it to record what AGORA has acknowledged. It knows
nothing of the wire format (that is `agora_bridge/agora/`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from agora_bridge.snapshots.codes import Motif
from agora_bridge.snapshots.model import (
    MotifAnnulation,
    MotifSortie,
    Niveau2019,
    Sexe,
    Statut,
    TypeCertification,
)
from agora_bridge.snapshots.settlement import cout_pedagogique_cents, taux_realisation


@dataclass(frozen=True, slots=True)
class Titulaire:
    # Personal data stays out of the repr, so out of tracebacks, assertion messages and
    # hypothesis's falsifying examples.
    nir: str = field(repr=False)  # the 13-character body AGORA receives
    nom_naissance: str = field(repr=False)  # normalised for AGORA
    prenom: str = field(repr=False)
    date_naissance: date = field(repr=False)
    sexe: Sexe = field()


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


class CodeAgora(Motif):
    """AGORA's error codes for the refusals its model makes (`agora-v2.md`)."""

    FORMAT_INVALIDE = "FORMAT_INVALIDE", "Une rectification (PATCH) qui ne change aucun champ."
    DATE_FUTURE = "DATE_FUTURE", "Une date envoyée est postérieure au jour (Europe/Paris)."
    DATE_INCOHERENTE = (
        "DATE_INCOHERENTE",
        "Session qui finit avant de commencer ; entrée hors des dates de la session fixées à la"
        " création ; sortie avant l'entrée ; solde avant la sortie ; annulation avant la"
        " validation.",
    )
    DOSSIER_EXISTANT = "DOSSIER_EXISTANT", "Création d'un dossier qu'AGORA a déjà."
    DOSSIER_INCONNU = "DOSSIER_INCONNU", "Étape ou rectification d'un dossier qu'AGORA n'a pas."
    DOSSIER_SOLDE = "DOSSIER_SOLDE", "Rectification d'un dossier soldé."
    TRANSITION_INVALIDE = (
        "TRANSITION_INVALIDE",
        "Étape hors de VALIDE → ENTRE → SORTI → SOLDE ou VALIDE|ENTRE → ANNULE ; champ"
        " rectifié dans un état qui ne le permet pas ; rectification d'un dossier annulé.",
    )
    SORTIE_APRES_FIN_SESSION = (
        "SORTIE_APRES_FIN_SESSION",
        "Sortie après la fin de session fixée à la création (une session déplacée depuis).",
    )
    COUT_INCOHERENT = (
        "COUT_INCOHERENT",
        "Taux de réalisation ou coût pédagogique différent du calcul d'AGORA sur la durée de"
        " session fixée à la création.",
    )
    TRANSITION_DEJA_APPLIQUEE = (
        "TRANSITION_DEJA_APPLIQUEE",
        "Le dossier est déjà dans l'état visé (409).",
    )


class Refus(Exception):
    """AGORA would refuse the operation; `code` is AGORA's error code."""

    def __init__(self, code: CodeAgora) -> None:
        super().__init__(code.value)
        self.code = code.value


# The forward transitions: operation → (state it applies to, state it leads to).
TRANSITIONS: dict[type[Operation], tuple[frozenset[Statut], Statut]] = {
    Entrer: (frozenset({Statut.VALIDE}), Statut.ENTRE),
    Sortir: (frozenset({Statut.ENTRE}), Statut.SORTI),
    Solder: (frozenset({Statut.SORTI}), Statut.SOLDE),
    Annuler: (frozenset({Statut.VALIDE, Statut.ENTRE}), Statut.ANNULE),
}
# PATCH: the states in which each field of a rectification may change.
RECTIFIABLE: dict[str, frozenset[Statut]] = {
    "titulaire": frozenset({Statut.VALIDE, Statut.ENTRE, Statut.SORTI}),
    "date_entree": frozenset({Statut.ENTRE, Statut.SORTI}),
    "sortie": frozenset({Statut.SORTI}),
}


def apply(
    dossier: AgoraDossier | None, op: Operation, *, today: date | None = None
) -> AgoraDossier:
    """The dossier after AGORA accepts `op`; raises `Refus` where AGORA would refuse it.

    The first refusal is AGORA's (`agora-v2.md`, and the mock's `flows.py`): the body alone
    (format, dates after `today`, the creation's session) → existence → the state machine →
    the rules that read the dossier → `TRANSITION_DEJA_APPLIQUEE`. `today` is AGORA's day
    (Europe/Paris); None skips `DATE_FUTURE`, for a caller whose dates were all validated
    against an earlier day (a sendable snapshot). NIR and SIRET are left out: only snapshots
    that passed the same rules reach the model.
    """
    _check_body(op, today)
    if isinstance(op, Creer):
        if dossier is not None:
            raise Refus(CodeAgora.DOSSIER_EXISTANT)
        return AgoraDossier(Statut.VALIDE, op.titulaire, op.fige)
    if dossier is None:
        raise Refus(CodeAgora.DOSSIER_INCONNU)
    if isinstance(op, Rectifier):
        return _rectify(dossier, op)
    return _transition(dossier, op)


def _check_body(op: Operation, today: date | None) -> None:
    """What AGORA judges before it looks the dossier up."""
    if isinstance(op, Rectifier) and op == Rectifier():
        raise Refus(CodeAgora.FORMAT_INVALIDE)  # a PATCH changes at least one field
    if today is not None and any(day > today for day in _dates_sent(op)):
        raise Refus(CodeAgora.DATE_FUTURE)
    if isinstance(op, Creer) and op.fige.session_debut > op.fige.session_fin:
        raise Refus(CodeAgora.DATE_INCOHERENTE)


def _dates_sent(op: Operation) -> tuple[date, ...]:
    """The dates of a body that may not be after today."""
    match op:
        case Creer(fige=fige):
            return (fige.date_validation,)
        case Entrer(date_entree=day):
            return (day,)
        case Sortir(sortie=sortie):
            return (sortie.date,)
        case Solder(solde=solde):
            return (solde.date,)
        case Annuler(annulation=annulation):
            return (annulation.date,)
        case Rectifier(date_entree=day, sortie=sortie):
            return tuple(d for d in (day, sortie.date if sortie else None) if d is not None)


def _transition(dossier: AgoraDossier, op: Entrer | Sortir | Solder | Annuler) -> AgoraDossier:
    sources, target = TRANSITIONS[type(op)]
    if dossier.statut is not target and dossier.statut not in sources:
        raise Refus(CodeAgora.TRANSITION_INVALIDE)
    # In the target state already, the step is still judged against the dossier, as AGORA
    # does: a repeat with dates it would refuse is refused, not "already applied".
    _check_step(dossier, op)
    if dossier.statut is target:
        raise Refus(CodeAgora.TRANSITION_DEJA_APPLIQUEE)
    match op:
        case Entrer(date_entree=day):
            return replace(dossier, statut=target, date_entree=day)
        case Sortir(sortie=sortie):
            return replace(dossier, statut=target, sortie=sortie)
        case Solder(solde=solde):
            return replace(dossier, statut=target, solde=solde)
        case Annuler(annulation=annulation):
            return replace(dossier, statut=target, annulation=annulation)


def _check_step(dossier: AgoraDossier, op: Entrer | Sortir | Solder | Annuler) -> None:
    """The rules of a step that read what AGORA fixed at creation and the earlier steps."""
    fige = dossier.fige
    match op:
        case Entrer(date_entree=day):
            _check_entry(fige, day)
        case Sortir(sortie=sortie):
            _check_exit(fige, dossier.date_entree, sortie.date)
        case Solder(solde=solde):
            _check_settlement(dossier, solde)
        case Annuler(annulation=annulation):
            if annulation.date < fige.date_validation:
                raise Refus(CodeAgora.DATE_INCOHERENTE)


def _check_entry(fige: Fige, day: date) -> None:
    if not fige.session_debut <= day <= fige.session_fin:
        raise Refus(CodeAgora.DATE_INCOHERENTE)


def _check_exit(fige: Fige, date_entree: date | None, day: date) -> None:
    if day > fige.session_fin:
        raise Refus(CodeAgora.SORTIE_APRES_FIN_SESSION)
    if date_entree is not None and day < date_entree:
        raise Refus(CodeAgora.DATE_INCOHERENTE)


def _check_settlement(dossier: AgoraDossier, solde: SoldeAgora) -> None:
    if dossier.sortie is not None and solde.date < dossier.sortie.date:
        raise Refus(CodeAgora.DATE_INCOHERENTE)
    centre = solde.heures_realisees_centre
    done = centre + solde.heures_realisees_entreprise
    if solde.taux_realisation != taux_realisation(done, dossier.fige.duree_heures):
        raise Refus(CodeAgora.COUT_INCOHERENT)
    if solde.cout_pedagogique_cents != cout_pedagogique_cents(centre, solde.taux_horaire_cents):
        raise Refus(CodeAgora.COUT_INCOHERENT)


def _rectify(dossier: AgoraDossier, op: Rectifier) -> AgoraDossier:
    if dossier.statut is Statut.SOLDE:
        raise Refus(CodeAgora.DOSSIER_SOLDE)
    changes = {name: getattr(op, name) for name in RECTIFIABLE if getattr(op, name) is not None}
    if any(dossier.statut not in RECTIFIABLE[name] for name in changes):
        raise Refus(CodeAgora.TRANSITION_INVALIDE)
    # The date rules re-checked on what the PATCH changes, with the dossier's other dates.
    if op.date_entree is not None:
        _check_entry(dossier.fige, op.date_entree)
    sortie = op.sortie or dossier.sortie
    if dossier.statut is Statut.SORTI and sortie is not None and (op.date_entree or op.sortie):
        _check_exit(dossier.fige, op.date_entree or dossier.date_entree, sortie.date)
    return replace(dossier, **changes)
