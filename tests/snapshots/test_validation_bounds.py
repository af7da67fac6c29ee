"""The inclusive bounds of `region-input.md`'s cross-field rules, pinned on both sides.

Mutation testing found each `<=` of these rules replaceable by `<` unnoticed: the tests
checked a date well inside and one well outside, never the day itself.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.validation import FieldError, Rejection, parse_line
from tests.builders import TODAY, snapshot_line


def verdict(step: str, /, **changes: Any) -> set[tuple[str, str]]:
    """The broken rules of the builder's line with `changes`; empty when it is valid."""
    result = parse_line(snapshot_line(step, **changes), today=TODAY)
    if isinstance(result, Snapshot):
        return set()
    return {(e.champ, e.code) for e in result.erreurs}


# The builder's session starts on 2019-03-04: the age is taken on that day when not entered.
@pytest.mark.parametrize(
    ("born", "expected"),
    [
        ("2004-03-05", {("stagiaire.date_naissance", "AGE_HORS_LIMITES")}),  # 14
        ("2004-03-04", set()),  # 15 that day
        ("1919-03-05", set()),  # 99
        ("1919-03-04", {("stagiaire.date_naissance", "AGE_HORS_LIMITES")}),  # 100 that day
    ],
)
def test_ages_15_and_99_are_accepted(born: str, expected: set[tuple[str, str]]) -> None:
    assert verdict("VALIDE", **{"stagiaire.date_naissance": born}) == expected


def test_a_one_day_session() -> None:
    one_day = {"session.date_debut": "2019-03-04", "session.date_fin": "2019-03-04"}
    assert verdict("VALIDE", **one_day) == set()


@pytest.mark.parametrize(
    ("step", "changes"),
    [
        ("ENTRE", {"date_entree": "2019-09-27"}),  # entry on the session's last day
        ("SORTI", {"sortie.date": "2019-03-04"}),  # exit on the day of entry
        ("SOLDE", {"solde.date": "2019-09-27"}),  # settlement on the day of exit
        ("ANNULE", {"annulation.date": "2019-02-20"}),  # cancelled on the validation day
    ],
)
def test_same_day_bounds_are_accepted(step: str, changes: dict[str, Any]) -> None:
    assert verdict(step, **changes) == set()


def test_today_is_not_in_the_future() -> None:
    in_2026 = {
        "date_validation": TODAY.isoformat(),
        "session.date_debut": "2026-12-01",
        "session.date_fin": "2027-06-30",
    }
    assert verdict("VALIDE", **in_2026) == set()
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    assert verdict("VALIDE", **in_2026 | {"date_validation": tomorrow}) == {
        ("date_validation", "DATE_FUTURE")
    }


def test_a_cancelled_dossier_keeps_its_entry_and_exit_but_not_a_settlement() -> None:
    entered = {"date_entree": "2019-03-04", "annulation.date": "2019-03-10"}
    assert verdict("ANNULE", **entered) == set()
    exited = entered | {"sortie": {"date": "2019-03-08", "motif": "ABANDON"}}
    assert verdict("ANNULE", **exited) == set()  # valid, then held by the planner
    settled = exited | {
        "solde": {
            "date": "2019-03-09",
            "heures_realisees_centre": "10",
            "heures_realisees_entreprise": "0",
        }
    }
    assert verdict("ANNULE", **settled) == {("solde", "STATUT_INCOHERENT")}


def test_a_line_broken_across_fields_names_its_dossier() -> None:
    result = parse_line(snapshot_line(**{"stagiaire.date_naissance": "2010-01-01"}), today=TODAY)
    assert result == Rejection(
        "PDL-2019-0001234", (FieldError("stagiaire.date_naissance", "AGE_HORS_LIMITES"),)
    )


def test_a_rejected_line_reports_an_id_of_64_characters_whole_and_none_longer() -> None:
    # Only a well-formed id is reported (docs/ARCHITECTURE.md): a longer one may be garbage.
    longest = parse_line(snapshot_line(id_dossier="A" * 64, version=0), today=TODAY)
    assert isinstance(longest, Rejection)
    assert longest.id_dossier == "A" * 64
    too_long = parse_line(snapshot_line(id_dossier="A" * 65, version=0), today=TODAY)
    assert isinstance(too_long, Rejection)
    assert too_long.id_dossier is None
