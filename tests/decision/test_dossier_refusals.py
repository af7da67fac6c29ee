"""`apply`: each of AGORA's refusals by its code, one broken rule at a time, and the bounds.

Mutation testing found the codes unchecked (a test only expected `Refus`) and two date rules
never reached. Each case breaks exactly one rule, so that the order in which `apply` checks
them does not matter here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from agora_bridge.decision.dossier import (
    AgoraDossier,
    AnnulationAgora,
    Annuler,
    Entrer,
    Operation,
    Rectifier,
    Refus,
    Solder,
    SortieAgora,
    Sortir,
    apply,
)
from agora_bridge.decision.planner import plan
from agora_bridge.snapshots.model import Statut
from tests.builders import snapshot


def agora_state(step: str) -> AgoraDossier:
    """What AGORA holds once it accepted every operation of the builder's dossier at `step`."""
    state: AgoraDossier | None = None
    for op in plan(None, snapshot(step)).operations:
        state = apply(state, op)
    assert state is not None
    return state


def refusal(state: AgoraDossier | None, op: Operation) -> str:
    with pytest.raises(Refus) as refused:
        apply(state, op)
    return refused.value.code


def solde_on(day: date) -> Solder:
    solde = agora_state("SOLDE").solde
    assert solde is not None
    return Solder(replace(solde, date=day))


def test_creating_twice() -> None:
    creation = plan(None, snapshot()).operations[0]
    assert refusal(agora_state("VALIDE"), creation) == "DOSSIER_EXISTANT"


def test_a_step_on_an_unknown_dossier() -> None:
    assert refusal(None, Entrer(date(2019, 3, 4))) == "DOSSIER_INCONNU"


def test_a_step_already_taken() -> None:
    assert refusal(agora_state("ENTRE"), Entrer(date(2019, 3, 4))) == "TRANSITION_DEJA_APPLIQUEE"


def test_a_step_skipped() -> None:
    exit_ = Sortir(SortieAgora(date(2019, 9, 27), "FIN_FORMATION"))
    assert refusal(agora_state("VALIDE"), exit_) == "TRANSITION_INVALIDE"


def test_a_rectification_once_settled() -> None:
    assert refusal(agora_state("SOLDE"), Rectifier(date_entree=date(2019, 3, 5))) == "DOSSIER_SOLDE"


def test_a_rectification_of_nothing_is_a_format_error_as_on_the_mock() -> None:
    assert refusal(agora_state("ENTRE"), Rectifier()) == "FORMAT_INVALIDE"


def test_a_rectification_of_a_step_not_taken() -> None:
    fix = Rectifier(sortie=SortieAgora(date(2019, 9, 27), "ABANDON"))
    assert refusal(agora_state("ENTRE"), fix) == "TRANSITION_INVALIDE"


@pytest.mark.parametrize(
    ("step", "op"),
    [
        ("VALIDE", Entrer(date(2019, 3, 3))),  # before the session
        ("VALIDE", Entrer(date(2019, 9, 28))),  # after it
        ("ENTRE", Sortir(SortieAgora(date(2019, 3, 3), "ABANDON"))),  # exit before entry
        ("SORTI", Rectifier(sortie=SortieAgora(date(2019, 3, 3), "ABANDON"))),
        ("SORTI", Rectifier(date_entree=date(2019, 3, 3))),  # entry before the session
        ("SORTI", solde_on(date(2019, 9, 26))),  # settled before the exit
        ("VALIDE", Annuler(AnnulationAgora(date(2019, 2, 19), "DESISTEMENT"))),
    ],
)
def test_dates_out_of_order(step: str, op: Operation) -> None:
    assert refusal(agora_state(step), op) == "DATE_INCOHERENTE"


def test_an_exit_after_the_session() -> None:
    exit_ = Sortir(SortieAgora(date(2019, 9, 28), "FIN_FORMATION"))
    assert refusal(agora_state("ENTRE"), exit_) == "SORTIE_APRES_FIN_SESSION"


@pytest.mark.parametrize(
    ("step", "op"),
    [
        ("VALIDE", Entrer(date(2019, 9, 27))),  # on the session's last day
        ("ENTRE", Sortir(SortieAgora(date(2019, 3, 4), "ABANDON"))),  # the day of entry
        ("SORTI", solde_on(date(2019, 9, 27))),  # the day of exit
        ("VALIDE", Annuler(AnnulationAgora(date(2019, 2, 20), "DESISTEMENT"))),  # validation day
    ],
)
def test_same_day_bounds_are_accepted(step: str, op: Operation) -> None:
    assert apply(agora_state(step), op).statut is not agora_state(step).statut


def test_a_one_day_session_is_created_and_lived_through() -> None:
    # `session.date_debut` ≤ `session.date_fin` (region-input.md): a session may last one day.
    one_day = {"session.date_fin": "2019-03-04", "sortie.date": "2019-03-04"}
    proposed = plan(None, snapshot("SOLDE", **one_day))
    assert proposed.retenue is None
    state: AgoraDossier | None = None
    for op in proposed.operations:
        state = apply(state, op)
    assert state is not None
    assert state.statut is Statut.SOLDE
