from __future__ import annotations

from datetime import date

import pytest

from agora_bridge.decision.dossier import (
    AgoraDossier,
    Creer,
    Rectifier,
    Solder,
    SortieAgora,
    Sortir,
    apply,
)
from agora_bridge.decision.planner import (
    ANNULATION_APRES_SORTIE,
    MODIFICATION_APRES_ANNULATION,
    MODIFICATION_APRES_SOLDE,
    REFUS_PREVU,
    RETOUR_ARRIERE,
    Plan,
    plan,
    project,
)
from agora_bridge.snapshots.model import Snapshot
from tests.builders import TODAY, snapshot


def acknowledged(s: Snapshot) -> AgoraDossier:
    """What AGORA holds once every operation of a first plan was accepted."""
    state = None
    for op in plan(None, s).operations:
        state = apply(state, op)
    assert state is not None
    return state


def kinds(s: Snapshot, ack: AgoraDossier | None = None) -> list[str]:
    return [type(op).__name__ for op in plan(ack, s).operations]


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("VALIDE", ["Creer"]),
        ("ENTRE", ["Creer", "Entrer"]),
        ("SORTI", ["Creer", "Entrer", "Sortir"]),
        ("SOLDE", ["Creer", "Entrer", "Sortir", "Solder"]),
        ("ANNULE", ["Creer", "Annuler"]),
    ],
)
def test_a_new_dossier_is_created_then_brought_to_its_state(step: str, expected: list[str]) -> None:
    assert kinds(snapshot(step)) == expected


def test_a_cancellation_after_entry_enters_first() -> None:
    s = snapshot("ANNULE", date_entree="2019-03-04", **{"annulation.date": "2019-03-10"})
    assert kinds(s) == ["Creer", "Entrer", "Annuler"]


def test_the_creation_carries_what_agora_receives() -> None:
    s = snapshot(
        **{"stagiaire.nom_naissance": "Éloïse  d'Arc-Noël", "stagiaire.niveau_entree": "IV"}
    )
    creation = plan(None, s).operations[0]
    assert isinstance(creation, Creer)
    assert creation.titulaire.nir == "1850578006084"
    assert creation.titulaire.nom_naissance == "ELOISE D'ARC-NOEL"
    assert creation.fige.niveau_entree == "4"
    assert creation.fige.reference_financeur == "PDL-2019-0001234"


def test_the_settlement_carries_the_computed_cost() -> None:
    solder = plan(None, snapshot("SOLDE")).operations[-1]
    assert isinstance(solder, Solder)
    assert solder.solde.taux_realisation == 100  # 840.5 h done of 840
    assert solder.solde.cout_pedagogique_cents == 800 * 1250


def test_the_same_state_again_sends_nothing() -> None:
    ack = acknowledged(snapshot("SORTI"))
    assert plan(ack, snapshot("SORTI", version=2)).operations == ()


def test_only_the_missing_steps_are_sent() -> None:
    ack = acknowledged(snapshot("ENTRE"))
    assert kinds(snapshot("SOLDE"), ack) == ["Sortir", "Solder"]


def test_a_corrected_entry_date_is_a_rectification_before_the_next_step() -> None:
    ack = acknowledged(snapshot("ENTRE"))
    ops = plan(ack, snapshot("SORTI", date_entree="2019-03-11")).operations
    assert ops[0] == Rectifier(date_entree=date(2019, 3, 11))
    assert isinstance(ops[1], Sortir)


def test_a_corrected_name_rectifies_the_whole_titulaire() -> None:
    ack = acknowledged(snapshot("SORTI"))
    (op,) = plan(ack, snapshot("SORTI", **{"stagiaire.prenom": "Jean-Marie"})).operations
    assert isinstance(op, Rectifier)
    assert op.titulaire is not None
    assert op.titulaire.prenom == "JEAN-MARIE"
    assert (op.date_entree, op.sortie) == (None, None)


def test_a_corrected_exit_motive_is_a_rectification() -> None:
    ack = acknowledged(snapshot("SORTI"))
    (op,) = plan(ack, snapshot("SORTI", **{"sortie.motif": "ABANDON"})).operations
    assert isinstance(op, Rectifier)
    assert op.sortie is not None
    assert op.sortie.motif == "ABANDON"


def test_a_fixed_field_change_is_reported_not_sent() -> None:
    ack = acknowledged(snapshot("ENTRE"))
    result = plan(ack, snapshot("SORTI", **{"organisme.siret": "35600000049837"}))
    assert [type(op) for op in result.operations] == [Sortir]
    assert result.non_transmis == ("siret",)


@pytest.mark.parametrize(
    ("before", "after", "reason"),
    [
        ("SOLDE", "ENTRE", RETOUR_ARRIERE),
        ("ENTRE", "VALIDE", RETOUR_ARRIERE),
        ("SORTI", "ANNULE", ANNULATION_APRES_SORTIE),
        ("SOLDE", "ANNULE", ANNULATION_APRES_SORTIE),
        ("ANNULE", "ENTRE", MODIFICATION_APRES_ANNULATION),
    ],
)
def test_impossible_moves_are_held(before: str, after: str, reason: str) -> None:
    ack = acknowledged(snapshot(before))
    result = plan(ack, snapshot(after, version=2))
    assert (result.operations, result.retenue) == ((), reason)


def test_a_cancellation_without_entry_after_agora_recorded_an_entry_is_held() -> None:
    ack = acknowledged(snapshot("ENTRE"))
    assert plan(ack, snapshot("ANNULE")).retenue == RETOUR_ARRIERE


def test_a_settled_dossier_cannot_be_changed() -> None:
    ack = acknowledged(snapshot("SOLDE"))
    changed = snapshot("SOLDE", **{"solde.heures_realisees_centre": "700"})
    assert plan(ack, changed).retenue == MODIFICATION_APRES_SOLDE


def test_a_snapshot_cancelled_after_its_exit_is_held_even_when_new() -> None:
    s = snapshot(
        "ANNULE", date_entree="2019-03-04", sortie={"date": "2019-03-05", "motif": "ABANDON"}
    )
    assert plan(None, s).retenue == ANNULATION_APRES_SORTIE


def test_project_needs_a_nir() -> None:
    with pytest.raises(ValueError, match="valid NIR"):
        project(snapshot(**{"stagiaire.nir": None}))


class TestWhatAgoraWouldRefuseIsHeld:
    """Finding 4: AGORA judges each step against the fields it fixed at creation."""

    def test_an_exit_after_the_session_end_agora_holds_is_held(self) -> None:
        ack = acknowledged(snapshot("ENTRE"))
        moved = snapshot(
            "SORTI",
            version=2,
            **{"session.date_fin": "2019-10-31", "sortie.date": "2019-10-15"},
        )
        assert plan(ack, moved, today=TODAY) == Plan(
            retenue=REFUS_PREVU + "SORTIE_APRES_FIN_SESSION", non_transmis=("session_fin",)
        )

    def test_an_exit_within_both_sessions_is_sent(self) -> None:
        ack = acknowledged(snapshot("ENTRE"))
        moved = snapshot("SORTI", version=2, **{"session.date_fin": "2019-10-31"})
        assert plan(ack, moved, today=TODAY) == Plan(
            (Sortir(SortieAgora(date(2019, 9, 27), "FIN_FORMATION")),),
            non_transmis=("session_fin",),
        )

    def test_an_entry_before_the_session_start_agora_holds_is_held(self) -> None:
        ack = acknowledged(snapshot("ENTRE"))
        moved = snapshot(
            "ENTRE", version=2, date_entree="2019-02-26", **{"session.date_debut": "2019-02-25"}
        )
        assert plan(ack, moved, today=TODAY) == Plan(
            retenue="REFUS_PREVU_DATE_INCOHERENTE", non_transmis=("session_debut",)
        )

    def test_a_settlement_over_another_duration_is_held(self) -> None:
        # 840.5 hours done: 84 % of the new 1,000 hours, 100 % of the 840 AGORA holds.
        ack = acknowledged(snapshot("SORTI"))
        longer = snapshot("SOLDE", version=2, **{"session.duree_heures": "1000"})
        assert plan(ack, longer, today=TODAY) == Plan(
            retenue="REFUS_PREVU_COUT_INCOHERENT", non_transmis=("duree_heures",)
        )

    def test_a_cancellation_before_the_validation_agora_holds_is_held(self) -> None:
        ack = acknowledged(snapshot())
        earlier = snapshot(
            "ANNULE",
            version=2,
            date_validation="2019-02-10",
            **{"annulation.date": "2019-02-15"},
        )
        assert plan(ack, earlier, today=TODAY) == Plan(
            retenue="REFUS_PREVU_DATE_INCOHERENTE", non_transmis=("date_validation",)
        )

    def test_a_step_dated_after_today_is_held_when_today_is_given(self) -> None:
        entered = snapshot("ENTRE")  # entry 2019-03-04
        assert plan(None, entered, today=date(2019, 3, 3)).retenue == "REFUS_PREVU_DATE_FUTURE"
        assert kinds(entered) == ["Creer", "Entrer"]  # no today: the dates were validated
