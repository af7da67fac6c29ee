"""From (what AGORA last acknowledged, the newest snapshot) to the operations to send.

Pure: the sync engine feeds it the acknowledged `AgoraDossier` (None when AGORA has
nothing yet) and a sendable snapshot, and queues what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date

from agora_bridge.decision.dossier import (
    RECTIFIABLE,
    AgoraDossier,
    Annuler,
    Creer,
    Entrer,
    Fige,
    Operation,
    Rectifier,
    Refus,
    Solder,
    Sortir,
    apply,
)
from agora_bridge.decision.projection import project
from agora_bridge.snapshots.codes import Motif
from agora_bridge.snapshots.model import Snapshot, Statut

# `project` is re-exported: the planner's callers (and a migration) project through it.
__all__ = [
    "ANNULATION_APRES_SORTIE",
    "ETAPES",
    "MODIFICATION_APRES_ANNULATION",
    "MODIFICATION_APRES_SOLDE",
    "REFUS_PREVU",
    "RETOUR_ARRIERE",
    "Plan",
    "Retenue",
    "path",
    "plan",
    "plan_target",
    "project",
]


class Retenue(Motif):
    """Why a snapshot cannot go to AGORA as it is (held, visible in the ops status)."""

    RETOUR_ARRIERE = (
        "RETOUR_ARRIERE",
        "L'instantané défait une étape qu'AGORA a déjà (un dossier SOLDE revenu à ENTRE).",
    )
    ANNULATION_APRES_SORTIE = (
        "ANNULATION_APRES_SORTIE",
        "Annulation d'un dossier sorti ou soldé : AGORA n'annule que depuis VALIDE ou ENTRE.",
    )
    MODIFICATION_APRES_SOLDE = (
        "MODIFICATION_APRES_SOLDE",
        "Donnée changée sur un dossier qu'AGORA a soldé : AGORA n'accepte plus de correction.",
    )
    MODIFICATION_APRES_ANNULATION = (
        "MODIFICATION_APRES_ANNULATION",
        "Donnée ou état changé sur un dossier qu'AGORA a annulé.",
    )
    # A planned operation AGORA's model refuses, typically because AGORA judges it against a
    # field fixed at creation that the snapshot has since changed (a session moved later: the
    # exit falls after the end AGORA holds). The reason is this prefix and AGORA's code, e.g.
    # REFUS_PREVU_SORTIE_APRES_FIN_SESSION, so that the ops status says what AGORA would answer.
    REFUS_PREVU = (
        "REFUS_PREVU_",
        "Suivi du code qu'AGORA répondrait : une opération prévue serait refusée par les règles"
        " d'AGORA, vérifiées avant l'envoi depuis l'état acquitté (souvent parce qu'un champ"
        " fixé à la création a changé depuis).",
    )


RETOUR_ARRIERE = Retenue.RETOUR_ARRIERE.value
ANNULATION_APRES_SORTIE = Retenue.ANNULATION_APRES_SORTIE.value
MODIFICATION_APRES_SOLDE = Retenue.MODIFICATION_APRES_SOLDE.value
MODIFICATION_APRES_ANNULATION = Retenue.MODIFICATION_APRES_ANNULATION.value
REFUS_PREVU = Retenue.REFUS_PREVU.value

_FORWARD = (Statut.VALIDE, Statut.ENTRE, Statut.SORTI, Statut.SOLDE)
# The step that brings AGORA into each state after creation, and the target's field that
# carries its data.
ETAPES: dict[Statut, tuple[type[Entrer | Sortir | Solder | Annuler], str]] = {
    Statut.ENTRE: (Entrer, "date_entree"),
    Statut.SORTI: (Sortir, "sortie"),
    Statut.SOLDE: (Solder, "solde"),
    Statut.ANNULE: (Annuler, "annulation"),
}


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
    return plan_target(acknowledged, project(snapshot), today=today)


def plan_target(
    acknowledged: AgoraDossier | None, target: AgoraDossier, *, today: date | None = None
) -> Plan:
    """`plan` from the snapshot's projection `target`, for a caller that needs the
    projection too (a backfill line): a snapshot is projected once."""
    proposed = _propose(acknowledged, target)
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


def _propose(acknowledged: AgoraDossier | None, target: AgoraDossier) -> Plan:
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
    """Corrections of what AGORA already has (each rectifiable field it holds that changed),
    sent before any further step."""
    fix = Rectifier(
        **{
            name: getattr(target, name)
            for name in RECTIFIABLE
            if getattr(acknowledged, name) not in (None, getattr(target, name))
        }
    )
    return () if fix == Rectifier() else (fix,)


def _forward(current: Statut, target: AgoraDossier) -> tuple[Operation, ...]:
    steps = path(target)
    return tuple(_step(statut, target) for statut in steps[steps.index(current) + 1 :])


def _step(statut: Statut, target: AgoraDossier) -> Operation:
    operation, data = ETAPES.get(statut, (None, ""))
    value = getattr(target, data, None)
    if operation is None or value is None:
        raise ValueError(f"a valid snapshot in {target.statut} carries the data of {statut}")
    return operation(value)


def _changed_fixed_fields(before: Fige, after: Fige) -> tuple[str, ...]:
    return tuple(f.name for f in fields(Fige) if getattr(before, f.name) != getattr(after, f.name))
