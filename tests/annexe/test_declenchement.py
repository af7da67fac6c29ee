"""The trigger rules say what the code does: each documented change, played through the
planner, sends the documented call with the documented fields; each hold and exclusion the
code reaches is a documented code."""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from typing import Any

import pytest

from agora_bridge.agora.mapping import APPELS, body_for
from agora_bridge.annexe.declenchement import Regle, Section, sections
from agora_bridge.decision.dossier import Fige
from agora_bridge.decision.planner import plan, project
from agora_bridge.settings import DEFAULT_EXCLUDED
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.perimeter import Perimeter, classify
from tests.builders import TODAY, snapshot

SECTIONS = {section.titre: section for section in sections()}


def rules(titre: str) -> dict[str, Regle]:
    section: Section = SECTIONS[titre]
    return {r.code: r for r in section.regles}


# (rule, what AGORA acknowledged, the new snapshot)
SENDS: list[tuple[str, Snapshot | None, Snapshot]] = [
    ("CREATION", None, snapshot()),
    ("ENTRE", snapshot(), snapshot("ENTRE", version=2)),
    ("SORTI", snapshot("ENTRE"), snapshot("SORTI", version=2)),
    ("SOLDE", snapshot("SORTI"), snapshot("SOLDE", version=2)),
    ("ANNULE", snapshot(), snapshot("ANNULE", version=2)),
    (
        "RECTIFICATION_TITULAIRE",
        snapshot("ENTRE"),
        snapshot("ENTRE", version=2, **{"stagiaire.prenom": "Jeanne", "stagiaire.sexe": "F"}),
    ),
    ("RECTIFICATION_DATE_ENTREE", snapshot("ENTRE"), snapshot("ENTRE", date_entree="2019-03-05")),
    ("RECTIFICATION_SORTIE", snapshot("SORTI"), snapshot("SORTI", **{"sortie.motif": "ABANDON"})),
]


@pytest.mark.parametrize(("code", "before", "after"), SENDS, ids=[s[0] for s in SENDS])
def test_each_documented_change_sends_the_documented_call(
    code: str, before: Snapshot | None, after: Snapshot
) -> None:
    rule = rules("Envois")[code]
    acknowledged = project(before) if before else None
    [op, *_] = plan(acknowledged, after, today=TODAY).operations
    assert str(APPELS[type(op)].route) == rule.appel
    sent = _paths(body_for(op, code_financeur="REG52").model_dump(exclude_none=True))
    assert sent <= set(rule.champs_agora)


def test_every_sending_rule_is_played_above() -> None:
    assert set(rules("Envois")) == {code for code, _, _ in SENDS}


def test_a_nir_correction_is_a_titulaire_rectification_not_a_new_creation() -> None:
    # The rule's snapshot fields are the ones whose change sets it off.
    assert "stagiaire.nir" in rules("Envois")["RECTIFICATION_TITULAIRE"].champs_instantane


def test_the_fixed_fields_are_the_codes_the_planner_counts() -> None:
    assert list(rules("Champs fixés à la création")) == [f.name for f in fields(Fige)]
    moved = snapshot("ENTRE", **{"session.numero": "autre"})
    counted = plan(project(snapshot("ENTRE")), moved, today=TODAY).non_transmis
    assert counted == ("session_numero",)
    assert rules("Champs fixés à la création")["session_numero"].champs_instantane == (
        "session.numero",
    )


HOLDS: list[tuple[Snapshot, Snapshot]] = [
    (snapshot("SOLDE"), snapshot("ENTRE", version=2)),  # RETOUR_ARRIERE
    (snapshot("SORTI"), snapshot("ANNULE", version=2, date_entree="2019-03-04")),
    (snapshot("SOLDE"), snapshot("SOLDE", **{"stagiaire.prenom": "Paul"})),
    (
        snapshot("ENTRE"),
        snapshot("SORTI", **{"session.date_fin": "2019-10-31", "sortie.date": "2019-10-15"}),
    ),
]


@pytest.mark.parametrize(("before", "after"), HOLDS)
def test_each_hold_the_planner_makes_is_documented(before: Snapshot, after: Snapshot) -> None:
    held = plan(project(before), after, today=TODAY).retenue
    assert held is not None
    documented = set(rules("Retenues")) | set(rules("Refus prévus"))
    assert held in documented


@pytest.mark.parametrize(
    ("changes", "since"),
    [
        ({"programme.categorie": "VAE"}, None),
        ({"programme.interface_agora": False}, None),
        ({}, date(2020, 1, 1)),
    ],
)
def test_each_exclusion_is_documented(changes: dict[str, Any], since: date | None) -> None:
    perimeter = Perimeter(DEFAULT_EXCLUDED)
    motif = classify(snapshot(**changes), perimeter, since=since).motif
    assert motif is not None
    documented = rules("Exclusions")
    assert motif in documented or f"{motif.split('_')[0]}_<catégorie>" in documented


@pytest.mark.parametrize("nir", [None, "185057800608400"])
def test_each_nir_hold_is_documented(nir: str | None) -> None:
    motif = classify(snapshot(**{"stagiaire.nir": nir}), Perimeter(frozenset()), since=None).motif
    assert motif in rules("Mises en attente du NIR")


def _paths(body: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, value in body.items():
        if isinstance(value, dict) and name != "certification":
            paths |= _paths(value, f"{prefix}{name}.")
        else:
            paths.add(f"{prefix}{name}")
    return paths
