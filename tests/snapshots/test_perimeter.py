from __future__ import annotations

from datetime import date
from itertools import product
from typing import Any

import pytest

from agora_bridge.settings import DEFAULT_EXCLUDED
from agora_bridge.snapshots.model import Categorie, Snapshot
from agora_bridge.snapshots.perimeter import (
    Classement,
    Classification,
    Perimeter,
    classify,
    interface_agora,
    is_inconsistent,
)
from agora_bridge.snapshots.validation import FieldError, Rejection, parse_line
from tests.builders import ABSENT, TODAY, snapshot, snapshot_line

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


# --- "Interface AGORA" on three objects (region-input.md, Perimeter) ------------------------

LEVELS = (
    "programme.interface_agora",
    "programme.interface_agora_consultation",
    "programme.interface_agora_dispositif",
)
SENDABLE_OR_OFF = {
    True: Classification(Classement.ENVOYABLE),
    False: Classification(Classement.EXCLU, "INTERFACE_AGORA_NON"),
}


def with_levels(programme: Any, consultation: Any, dispositif: Any, **changes: Any) -> Snapshot:
    """A snapshot whose three levels are set as given (`ABSENT`: the key is left out)."""
    levels = dict(zip(LEVELS, (programme, consultation, dispositif), strict=True))
    return snapshot(**levels, **changes)


@pytest.mark.parametrize(
    ("programme", "consultation", "dispositif", "decided"),
    [
        (True, ABSENT, ABSENT, True),  # the export before the two new fields
        (False, ABSENT, ABSENT, False),
        (True, False, False, True),  # the programme opts in within excluded parents
        (False, True, True, False),  # the programme opts out
        (None, True, False, True),  # not set on the programme: the consultation decides
        (None, False, True, False),
        (None, None, True, True),  # nor on the consultation: the dispositif decides
        (None, ABSENT, True, True),
        (None, ABSENT, False, False),
        (None, None, None, False),  # set nowhere: false
        (None, ABSENT, ABSENT, False),
    ],
)
def test_the_most_specific_level_set_decides(
    programme: Any, consultation: Any, dispositif: Any, decided: bool
) -> None:
    s = with_levels(programme, consultation, dispositif)
    assert interface_agora(s.programme) is decided
    assert classify(s, ANNEX, since=None) == SENDABLE_OR_OFF[decided]


def spec_decision(programme: Any, consultation: Any, dispositif: Any) -> bool:
    """region-input.md: the programme's, else the consultation's, else the dispositif's;
    when none is set, false. Absent and null both mean "not set"."""
    for level in (programme, consultation, dispositif):
        if level is True or level is False:
            return level
    return False


ALL_COMBINATIONS = list(product([True, False, None], *[[True, False, None, ABSENT]] * 2))


@pytest.mark.parametrize(("programme", "consultation", "dispositif"), ALL_COMBINATIONS)
@pytest.mark.parametrize("categorie", ["QUALIFIANT", "PREPARATOIRE", "VAE", "DETENUS"])
def test_every_combination_of_levels_and_category(
    programme: Any, consultation: Any, dispositif: Any, categorie: str
) -> None:
    s = with_levels(programme, consultation, dispositif, **{"programme.categorie": categorie})
    decided = spec_decision(programme, consultation, dispositif)
    excluded_category = Categorie(categorie) in DEFAULT_EXCLUDED
    reason = classify(s, ANNEX, since=None).motif
    if excluded_category:
        # The category is counted first; a true attribute on it is an inconsistency.
        assert reason == f"CATEGORIE_{categorie}"
        assert is_inconsistent(s, ANNEX) is decided
    else:
        assert reason == (None if decided else "INTERFACE_AGORA_NON")
        assert is_inconsistent(s, ANNEX) is False


def test_the_programme_level_is_required_but_may_be_null() -> None:
    missing = parse_line(snapshot_line(**{"programme.interface_agora": ABSENT}), today=TODAY)
    assert missing == Rejection(
        "PDL-2019-0001234", (FieldError("programme.interface_agora", "CHAMP_REQUIS"),)
    )
    null = parse_line(snapshot_line(**{"programme.interface_agora": None}), today=TODAY)
    assert not isinstance(null, Rejection)
    assert null.programme.interface_agora is None


@pytest.mark.parametrize("field", LEVELS)
@pytest.mark.parametrize("value", ["oui", "true", 1, 0, [], {}])
def test_each_level_is_a_json_boolean_or_null(field: str, value: Any) -> None:
    result = parse_line(snapshot_line(**{field: value}), today=TODAY)
    assert result == Rejection("PDL-2019-0001234", (FieldError(field, "FORMAT_INVALIDE"),))


@pytest.mark.parametrize("field", LEVELS[1:])
def test_the_two_lower_levels_are_optional(field: str) -> None:
    for value in (ABSENT, None, True, False):
        result = parse_line(snapshot_line(**{field: value}), today=TODAY)
        assert not isinstance(result, Rejection), value
