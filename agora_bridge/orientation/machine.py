"""The orientation's state machine and its body rules: pure, `today` passed in.

`rule_errors` is the 422 of a transition (motifs, `AUTRE` with a comment, no date in the
future), checked before `apply`, whose `TransitionImpossible` is the 409: `ouiform.md`'s
precedence puts 422 before 409.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from agora_bridge.orientation.model import (
    Abandon,
    AnnulationOrientation,
    Change,
    Creation,
    Decision,
    Entree,
    Etape,
    Etat,
    Positionnement,
    StatutOrientation,
)
from agora_bridge.snapshots.nir import NirVerdict, check_nir
from agora_bridge.snapshots.validation import FieldError

# The states each change leaves from.
_EN_COURS = frozenset(
    {StatutOrientation.PRESCRITE, StatutOrientation.POSITIONNEE, StatutOrientation.RETENUE}
)
SOURCES: dict[type[Change], frozenset[StatutOrientation]] = {
    Positionnement: frozenset({StatutOrientation.PRESCRITE}),
    Decision: frozenset({StatutOrientation.POSITIONNEE}),
    Entree: frozenset({StatutOrientation.RETENUE}),
    Abandon: _EN_COURS,
    AnnulationOrientation: _EN_COURS,
}


class TransitionImpossible(Exception):
    """The change cannot leave the orientation's current state (409)."""


def creation_errors(creation: Creation, today: date) -> list[FieldError]:
    candidat = creation.candidat
    errors = []
    if candidat.date_naissance > today:
        errors.append(FieldError("candidat.date_naissance", "DATE_FUTURE"))
    if candidat.nir is not None:
        verdict = check_nir(candidat.nir, sexe=None, date_naissance=candidat.date_naissance)
        if verdict is not NirVerdict.VALIDE:
            errors.append(FieldError("candidat.nir", "NIR_INVALIDE"))
    return errors


def rule_errors(change: Change, today: date) -> list[FieldError]:
    return list(_rule_errors(change, today))


def _rule_errors(change: Change, today: date) -> Iterator[FieldError]:
    if isinstance(change, Decision):
        yield from _decision_errors(change)
    elif isinstance(change, Entree) and change.date_entree > today:
        yield FieldError("date_entree", "DATE_FUTURE")
    elif isinstance(change, Abandon):
        if change.date > today:
            yield FieldError("date", "DATE_FUTURE")
        if change.motif == "AUTRE" and change.commentaire is None:
            yield FieldError("commentaire", "COMMENTAIRE_REQUIS")


def _decision_errors(decision: Decision) -> Iterator[FieldError]:
    if decision.resultat == "NON_RETENUE":
        if decision.motif is None:
            yield FieldError("motif", "MOTIF_REQUIS")
        elif decision.motif == "AUTRE" and decision.commentaire is None:
            yield FieldError("commentaire", "COMMENTAIRE_REQUIS")
    elif decision.motif is not None:
        # A motif explains a refusal only: on another result it would mislead the prescriber.
        yield FieldError("motif", "MOTIF_INTERDIT")


def target(change: Change) -> StatutOrientation:
    if isinstance(change, Decision):
        return StatutOrientation(change.resultat)
    return {
        Positionnement: StatutOrientation.POSITIONNEE,
        Entree: StatutOrientation.ENTREE,
        Abandon: StatutOrientation.ABANDON,
        AnnulationOrientation: StatutOrientation.ANNULEE,
    }[type(change)]


def apply(etat: Etat, change: Change, *, le: datetime, par: str) -> Etat:
    """The orientation after `change`, one version on; TransitionImpossible if the change
    cannot leave its state."""
    if etat.statut not in SOURCES[type(change)]:
        raise TransitionImpossible(f"{type(change).__name__} cannot leave {etat.statut}")
    statut = target(change)
    return dataclasses.replace(
        etat,
        statut=statut,
        version=etat.version + 1,
        historique=(*etat.historique, Etape(statut, le, par)),
        **_fields(change),
    )


def _fields(change: Change) -> dict[str, Any]:
    if isinstance(change, Positionnement):
        return {"date_information_collective": change.date_information_collective}
    if isinstance(change, Decision):
        return {"decision": change}
    if isinstance(change, Entree):
        return {"date_entree": change.date_entree}
    if isinstance(change, Abandon):
        return {"abandon": change}
    return {}


def created(*, le: datetime, par: str) -> Etat:
    return Etat(
        statut=StatutOrientation.PRESCRITE,
        version=1,
        historique=(Etape(StatutOrientation.PRESCRITE, le, par),),
    )
