"""From (what AGORA last acknowledged, the newest snapshot) to the operations to send.

Pure: the sync engine feeds it the acknowledged `AgoraDossier` (None when AGORA has
nothing yet) and a sendable snapshot, and queues what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date

from agora_bridge.decision.dossier import (
    AgoraDossier,
    AnnulationAgora,
    Annuler,
    Creer,
    Entrer,
    Fige,
    Operation,
    Rectifier,
    Refus,
    SoldeAgora,
    Solder,
    SortieAgora,
    Sortir,
    Titulaire,
    apply,
)
from agora_bridge.snapshots.model import Snapshot, Statut
from agora_bridge.snapshots.nir import nir_for_agora
from agora_bridge.snapshots.normalise import agora_name, level_2019
from agora_bridge.snapshots.settlement import reglement

# Why a snapshot cannot go to AGORA as it is (held, visible in the ops status).
RETOUR_ARRIERE = "RETOUR_ARRIERE"  # a step AGORA already has is undone
ANNULATION_APRES_SORTIE = "ANNULATION_APRES_SORTIE"
MODIFICATION_APRES_SOLDE = "MODIFICATION_APRES_SOLDE"  # AGORA refuses changes once settled
MODIFICATION_APRES_ANNULATION = "MODIFICATION_APRES_ANNULATION"
# A planned operation AGORA's model refuses, typically because AGORA judges it against a
# field fixed at creation that the snapshot has since changed (a session moved later: the
# exit falls after the end AGORA holds). The reason is this prefix and AGORA's code, e.g.
# REFUS_PREVU_SORTIE_APRES_FIN_SESSION, so that the ops status says what AGORA would answer.
REFUS_PREVU = "REFUS_PREVU_"

_FORWARD = (Statut.VALIDE, Statut.ENTRE, Statut.SORTI, Statut.SOLDE)


@dataclass(frozen=True, slots=True)
class Plan:
    operations: tuple[Operation, ...] = ()
    retenue: str | None = None  # hold reason; no operation when set
    # Fields fixed at creation that the snapshot changed: AGORA cannot take them, the
    # reports count them so that the Région can correct them by other means.
    non_transmis: tuple[str, ...] = ()


def plan(
    acknowledged: AgoraDossier | None, snapshot: Snapshot, *, today: date | None = None
) -> Plan:
    """The operations to send, each checked in turn against AGORA's model (`apply`) from the
    acknowledged state; one that AGORA would refuse holds the snapshot (`REFUS_PREVU_…`).

    `today` is passed to `apply` for `DATE_FUTURE` (None: the snapshot's dates were checked
    against the day it was validated, which is not later than today).
    """
    proposed = _propose(acknowledged, snapshot)
    refused = _first_refusal(acknowledged, proposed.operations, today)
    if refused is None:
        return proposed
    # non_transmis stays: it names the fixed field the Région changed, usually the cause.
    return replace(proposed, operations=(), retenue=REFUS_PREVU + refused)


def _first_refusal(
    acknowledged: AgoraDossier | None, operations: tuple[Operation, ...], today: date | None
) -> str | None:
    state = acknowledged
    for op in operations:
        try:
            state = apply(state, op, today=today)
        except Refus as refused:
            return refused.code
    return None


def _propose(acknowledged: AgoraDossier | None, snapshot: Snapshot) -> Plan:
    target = project(snapshot)
    if target.statut is Statut.ANNULE and target.sortie is not None:
        return Plan(retenue=ANNULATION_APRES_SORTIE)
    if acknowledged is None:
        return Plan((Creer(target.titulaire, target.fige), *_forward(Statut.VALIDE, target)))
    reason = _impossible(acknowledged, target)
    if reason is not None:
        return Plan(retenue=reason)
    return Plan(
        (*_rectifications(acknowledged, target), *_forward(acknowledged.statut, target)),
        non_transmis=_changed_fixed_fields(acknowledged.fige, target.fige),
    )


def project(s: Snapshot) -> AgoraDossier:
    """The dossier AGORA should hold for this snapshot (its NIR must be valid)."""
    if s.stagiaire.nir is None:
        raise ValueError("only a snapshot with a valid NIR has an AGORA projection")
    return AgoraDossier(
        statut=s.statut,
        titulaire=_titulaire(s),
        fige=_fige(s),
        date_entree=s.date_entree,
        sortie=SortieAgora(s.sortie.date, s.sortie.motif) if s.sortie else None,
        solde=_solde(s),
        annulation=AnnulationAgora(s.annulation.date, s.annulation.motif) if s.annulation else None,
    )


def _titulaire(s: Snapshot) -> Titulaire:
    p = s.stagiaire
    assert p.nir is not None  # checked by project()
    return Titulaire(
        nir=nir_for_agora(p.nir),
        nom_naissance=agora_name(p.nom_naissance),
        prenom=agora_name(p.prenom),
        date_naissance=p.date_naissance,
        sexe=p.sexe,
    )


def _fige(s: Snapshot) -> Fige:
    certification = s.action.certification
    return Fige(
        reference_financeur=s.id_dossier,
        dispositif=s.programme.dispositif,
        niveau_entree=level_2019(s.stagiaire.niveau_entree),
        siret=s.organisme.siret,
        action_numero=s.action.numero,
        formacode=s.action.formacode,
        certification=(certification.type, certification.code) if certification else None,
        session_numero=s.session.numero,
        session_debut=s.session.date_debut,
        session_fin=s.session.date_fin,
        duree_heures=s.session.duree_heures,
        date_validation=s.date_validation,
    )


def _solde(s: Snapshot) -> SoldeAgora | None:
    if s.solde is None:
        return None
    rules = reglement(
        heures_centre=s.solde.heures_realisees_centre,
        heures_entreprise=s.solde.heures_realisees_entreprise,
        duree_heures=s.session.duree_heures,
        taux_horaire_cents=s.taux_horaire_cents,
    )
    return SoldeAgora(
        date=s.solde.date,
        heures_realisees_centre=s.solde.heures_realisees_centre,
        heures_realisees_entreprise=s.solde.heures_realisees_entreprise,
        taux_realisation=rules.taux_realisation,
        taux_horaire_cents=s.taux_horaire_cents,
        cout_pedagogique_cents=rules.cout_pedagogique_cents,
    )


def path(target: AgoraDossier) -> tuple[Statut, ...]:
    """The states AGORA goes through from creation to the target's."""
    if target.statut is Statut.ANNULE:
        entered = (Statut.ENTRE,) if target.date_entree is not None else ()
        return (Statut.VALIDE, *entered, Statut.ANNULE)
    return _FORWARD[: _FORWARD.index(target.statut) + 1]


def _impossible(acknowledged: AgoraDossier, target: AgoraDossier) -> str | None:
    current = acknowledged.statut
    if current not in path(target):
        if current is Statut.ANNULE:
            return MODIFICATION_APRES_ANNULATION
        if target.statut is Statut.ANNULE and current in (Statut.SORTI, Statut.SOLDE):
            return ANNULATION_APRES_SORTIE
        return RETOUR_ARRIERE
    changed = replace(acknowledged, fige=target.fige) != target
    if changed and current is Statut.SOLDE:
        return MODIFICATION_APRES_SOLDE
    if changed and current is Statut.ANNULE:
        return MODIFICATION_APRES_ANNULATION
    return None


def _rectifications(acknowledged: AgoraDossier, target: AgoraDossier) -> tuple[Rectifier, ...]:
    """Corrections of what AGORA already has, sent before any further step."""
    fix = Rectifier(
        titulaire=target.titulaire if target.titulaire != acknowledged.titulaire else None,
        date_entree=target.date_entree
        if acknowledged.date_entree not in (None, target.date_entree)
        else None,
        sortie=target.sortie if acknowledged.sortie not in (None, target.sortie) else None,
    )
    return () if fix == Rectifier() else (fix,)


def _forward(current: Statut, target: AgoraDossier) -> tuple[Operation, ...]:
    steps = path(target)
    return tuple(_step(statut, target) for statut in steps[steps.index(current) + 1 :])


def _step(statut: Statut, target: AgoraDossier) -> Operation:
    match statut:
        case Statut.ENTRE if target.date_entree is not None:
            return Entrer(target.date_entree)
        case Statut.SORTI if target.sortie is not None:
            return Sortir(target.sortie)
        case Statut.SOLDE if target.solde is not None:
            return Solder(target.solde)
        case Statut.ANNULE if target.annulation is not None:
            return Annuler(target.annulation)
    raise ValueError(f"a valid snapshot in {target.statut} carries the data of {statut}")


def _changed_fixed_fields(before: Fige, after: Fige) -> tuple[str, ...]:
    return tuple(f.name for f in fields(Fige) if getattr(before, f.name) != getattr(after, f.name))
