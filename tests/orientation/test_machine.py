"""The orientation's state machine and body rules, pure: every change from every state."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from agora_bridge.orientation.machine import (
    TransitionImpossible,
    apply,
    created,
    creation_errors,
    rule_errors,
)
from agora_bridge.orientation.model import (
    Abandon,
    AnnulationOrientation,
    Change,
    Creation,
    Decision,
    Entree,
    Etat,
    Positionnement,
    StatutOrientation,
)
from agora_bridge.snapshots.validation import FieldError
from tests.builders import NIR

LE = datetime(2026, 11, 27, 9, tzinfo=UTC)
TODAY = date(2026, 11, 27)
S = StatutOrientation
CHANGES: list[tuple[Change, set[S], S]] = [
    (Positionnement(date_information_collective=date(2026, 12, 1)), {S.PRESCRITE}, S.POSITIONNEE),
    (Decision(resultat="RETENUE"), {S.POSITIONNEE}, S.RETENUE),
    (Decision(resultat="NON_RETENUE", motif="SESSION_COMPLETE"), {S.POSITIONNEE}, S.NON_RETENUE),
    (Decision(resultat="ABSENTE_IC"), {S.POSITIONNEE}, S.ABSENTE_IC),
    (Entree(date_entree=TODAY), {S.RETENUE}, S.ENTREE),
    (
        Abandon(date=TODAY, motif="EMPLOI_TROUVE"),
        {S.PRESCRITE, S.POSITIONNEE, S.RETENUE},
        S.ABANDON,
    ),
    (AnnulationOrientation(), {S.PRESCRITE, S.POSITIONNEE, S.RETENUE}, S.ANNULEE),
]


def etat(statut: S) -> Etat:
    return Etat(statut=statut, version=3, historique=created(le=LE, par="X").historique)


@pytest.mark.parametrize("statut", list(S))
@pytest.mark.parametrize(("change", "sources", "target"), CHANGES)
def test_every_change_from_every_state(
    statut: S, change: Change, sources: set[S], target: S
) -> None:
    if statut not in sources:
        with pytest.raises(TransitionImpossible):
            apply(etat(statut), change, le=LE, par="ORGANISME")
        return
    after = apply(etat(statut), change, le=LE, par="ORGANISME")
    assert after.statut is target
    assert after.version == 4
    assert after.historique[-1].statut is target
    assert after.historique[-1].par == "ORGANISME"
    assert len(after.historique) == 2


def test_a_change_keeps_what_came_before() -> None:
    positioned = apply(created(le=LE, par="P"), CHANGES[0][0], le=LE, par="O")
    decided = apply(positioned, CHANGES[1][0], le=LE, par="O")
    entered = apply(decided, CHANGES[4][0], le=LE, par="O")
    assert entered.date_information_collective == date(2026, 12, 1)
    assert entered.decision == Decision(resultat="RETENUE")
    assert entered.date_entree == TODAY
    assert [step.statut for step in entered.historique] == [
        S.PRESCRITE,
        S.POSITIONNEE,
        S.RETENUE,
        S.ENTREE,
    ]


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        (Decision(resultat="NON_RETENUE"), [FieldError("motif", "MOTIF_REQUIS")]),
        (
            Decision(resultat="NON_RETENUE", motif="AUTRE"),
            [FieldError("commentaire", "COMMENTAIRE_REQUIS")],
        ),
        (Decision(resultat="NON_RETENUE", motif="AUTRE", commentaire="Vu"), []),
        (Decision(resultat="ABSENTE_IC", motif="AUTRE"), [FieldError("motif", "MOTIF_INTERDIT")]),
        (Entree(date_entree=date(2026, 11, 28)), [FieldError("date_entree", "DATE_FUTURE")]),
        (
            Abandon(date=date(2026, 11, 28), motif="AUTRE"),
            [FieldError("date", "DATE_FUTURE"), FieldError("commentaire", "COMMENTAIRE_REQUIS")],
        ),
        (Abandon(date=TODAY, motif="AUTRE", commentaire="Déménagement"), []),
        (Positionnement(date_information_collective=date(2027, 1, 5)), []),  # planned
    ],
)
def test_body_rules(change: Change, errors: list[FieldError]) -> None:
    assert rule_errors(change, TODAY) == errors


def creation(**candidat: object) -> Creation:
    return Creation.model_validate(
        {
            "candidat": {"nom": "Dupont", "prenom": "Jean", "date_naissance": "1985-05-12"}
            | candidat,
            "organisme": {"siret": "73282932000074"},
            "session": {"action_numero": "A", "session_numero": "S"},
        }
    )


def test_creation_rules() -> None:
    assert creation_errors(creation(), TODAY) == []
    assert creation_errors(creation(nir=NIR), TODAY) == []
    assert creation_errors(creation(nir="1 85 05 78 006 084 91"), TODAY) == []
    assert creation_errors(creation(nir=NIR[:-2] + "00"), TODAY) == [
        FieldError("candidat.nir", "NIR_INVALIDE")
    ]
    assert creation_errors(creation(date_naissance="2027-01-01"), TODAY) == [
        FieldError("candidat.date_naissance", "DATE_FUTURE")
    ]
