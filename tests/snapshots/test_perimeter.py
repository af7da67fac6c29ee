from __future__ import annotations

from datetime import date

import pytest

from agora_bridge.settings import DEFAULT_EXCLUDED
from agora_bridge.snapshots.model import Categorie
from agora_bridge.snapshots.perimeter import (
    Classement,
    Classification,
    Perimeter,
    classify,
    is_inconsistent,
)
from tests.builders import snapshot

ANNEX = Perimeter(DEFAULT_EXCLUDED)
CUT_OFF = date(2017, 1, 1)


@pytest.mark.parametrize("categorie", sorted(DEFAULT_EXCLUDED))
def test_the_annex_categories_are_excluded(categorie: Categorie) -> None:
    s = snapshot(**{"programme.categorie": categorie.value})
    assert classify(s, ANNEX, since=None) == Classification(
        Classement.EXCLU, f"CATEGORIE_{categorie.value}"
    )
    assert is_inconsistent(s, ANNEX)


def test_the_excluded_set_is_configuration() -> None:
    s = snapshot(**{"programme.categorie": "VAE"})
    assert classify(s, Perimeter(frozenset()), since=None).classement is Classement.ENVOYABLE


def test_interface_agora_false_is_excluded() -> None:
    s = snapshot(**{"programme.interface_agora": False})
    assert classify(s, ANNEX, since=None) == Classification(Classement.EXCLU, "INTERFACE_AGORA_NON")
    assert not is_inconsistent(s, ANNEX)


def test_the_category_is_counted_before_the_attribute() -> None:
    s = snapshot(**{"programme.categorie": "PSAD", "programme.interface_agora": False})
    assert classify(s, ANNEX, since=None).motif == "CATEGORIE_PSAD"


def test_the_cut_off_uses_the_entry_date_else_the_session_start() -> None:
    before = {
        "session.date_debut": "2016-12-01",
        "session.date_fin": "2017-03-01",
        "date_validation": "2016-11-20",
    }
    never_entered = snapshot(**before)
    entered_in_2017 = snapshot("ENTRE", **before, date_entree="2017-01-01")
    assert classify(never_entered, ANNEX, since=CUT_OFF).motif == "AVANT_REPRISE"
    assert classify(entered_in_2017, ANNEX, since=CUT_OFF).classement is Classement.ENVOYABLE
    # The synchronous flows have no cut-off.
    assert classify(never_entered, ANNEX, since=None).classement is Classement.ENVOYABLE


def test_an_excluded_dossier_needs_no_valid_nir() -> None:
    s = snapshot(**{"programme.interface_agora": False, "stagiaire.nir": None})
    assert classify(s, ANNEX, since=None).classement is Classement.EXCLU


@pytest.mark.parametrize(
    ("nir", "reason"), [(None, "NIR_ABSENT"), ("185057800608492", "NIR_INVALIDE")]
)
def test_held_for_the_nir(nir: str | None, reason: str) -> None:
    s = snapshot(**{"stagiaire.nir": nir})
    assert classify(s, ANNEX, since=None) == Classification(Classement.RETENU, reason)


def test_a_complete_dossier_is_sendable() -> None:
    assert classify(snapshot("SOLDE"), ANNEX, since=CUT_OFF).classement is Classement.ENVOYABLE
