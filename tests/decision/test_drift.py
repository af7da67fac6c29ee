"""Drift: the names of the fields that differ between two states of a dossier, never values."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from agora_bridge.decision.dossier import AgoraDossier
from agora_bridge.decision.drift import differences
from agora_bridge.decision.planner import project
from tests.builders import snapshot

STEPS = ("VALIDE", "ENTRE", "SORTI", "SOLDE", "ANNULE")


def agora(step: str = "VALIDE", **changes: object) -> AgoraDossier:
    return project(snapshot(step, **changes))


@given(st.sampled_from(STEPS))
def test_a_dossier_does_not_drift_from_itself(step: str) -> None:
    assert differences(agora(step), agora(step)) == ()


def test_equal_numbers_written_differently_are_no_drift() -> None:
    ours = agora("SOLDE")
    assert ours.solde is not None
    theirs = replace(
        ours,
        solde=replace(ours.solde, heures_realisees_centre=Decimal("800.00")),
    )
    assert differences(ours, theirs) == ()


def test_each_changed_field_is_named_with_its_path() -> None:
    ours = agora("SORTI")
    assert ours.sortie is not None
    theirs = replace(
        ours,
        date_entree=date(2019, 3, 5),
        sortie=replace(ours.sortie, motif="ABANDON"),
        fige=replace(ours.fige, session_fin=date(2019, 9, 30), siret="12345678900011"),
    )
    assert differences(ours, theirs) == (
        "fige.siret",
        "fige.session_fin",
        "date_entree",
        "sortie.motif",
    )


def test_a_step_on_one_side_only_is_named_once() -> None:
    entered, exited = agora("ENTRE"), agora("SORTI")
    assert differences(entered, exited) == ("statut", "sortie")
    assert differences(exited, entered) == ("statut", "sortie")


def test_the_titulaire_is_named_whole_never_its_parts() -> None:
    ours = agora("ENTRE")
    theirs = agora("ENTRE", **{"stagiaire.prenom": "Paul", "stagiaire.nom_naissance": "Durand"})
    assert differences(ours, theirs) == ("titulaire",)


def test_the_names_carry_no_value() -> None:
    ours = agora("SORTI")
    theirs = agora(
        "SORTI",
        **{"stagiaire.prenom": "Zoé", "sortie.date": "2019-09-20"},
    )
    names = differences(ours, theirs)
    assert names == ("titulaire", "sortie.date")
    text = " ".join(names)
    assert "ZOE" not in text.upper()
    assert "2019" not in text
