"""The mock's pydantic models accept exactly the bodies the contract accepts.

The mock answers 400 FORMAT_INVALIDE for what its models refuse; the contract is what the
client and the mapping are checked against. Random mutations of valid bodies must get the
same verdict from both.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from mocks import models
from mocks.problems import Erreur
from tests.contracts.validate import component_validator
from tests.mocks.builders import ANNULATION, ENTREE, NIR, SOLDE, SORTIE, creation, ligne

STATUTS = ("VALIDE", "ENTRE", "SORTI", "SOLDE", "ANNULE")
Check = Callable[[Any], list[Erreur]]


def _none(_: Any) -> list[Erreur]:
    return []


# contract component → (mock model, the mock's checks beyond the model, valid bodies)
CASES: dict[str, tuple[type[BaseModel], Check, list[dict[str, Any]]]] = {
    "Creation": (models.Creation, _none, [creation()]),
    "LigneLot": (
        models.LigneLot,
        models.final_state_errors,
        [ligne("R-1", statut) for statut in STATUTS],
    ),
    "Entree": (models.Entree, _none, [ENTREE]),
    "Sortie": (models.Sortie, _none, [SORTIE]),
    "Solde": (models.Solde, _none, [SOLDE]),
    "Annulation": (models.Annulation, _none, [ANNULATION]),
    "Rectification": (
        models.Rectification,
        models.rectification_errors,
        [{"titulaire": creation()["titulaire"]}, {"date_entree": "2019-03-05", **SORTIE}],
    ),
    "Recherche": (
        models.Recherche,
        models.recherche_errors,
        [{"reference_financeur": "R-1"}, {"nir": NIR, "numero_session": "1330305"}],
    ),
}
# Values close to valid ones, where the two could disagree.
NEAR = [
    "",
    " ",
    "2019-02-30",
    "2019-2-3",
    "2019-03-04",
    "20190304",
    "2019-03-04T00:00:00",
    NIR,
    "185057800608",
    "2A50578006084",
    "1850578006084 ",
    "73282932000074",
    "7328293200007A",
    "840",
    "840.5",
    "840.555",
    "0",
    "0.00",
    "-1",
    "RNCP35000",
    "RS1",
    "12345",
    "DUPONT",
    "Dupont",
    "D'ARC-NOEL",
    "A  B",
    "M",
    "F",
    "3",
    "VI",
    "REG52",
    "reg52",
    "FIN_FORMATION",
    "DESISTEMENT",
    "RNCP",
    "CERTIFINFO",
    "AG000000000001",
    "x" * 101,
]
# Python's `$` also matches before a final newline (python-jsonschema's patterns), ECMA-262's
# and pydantic's do not: such strings are left out rather than judged.
TEXT = st.text(max_size=12).filter(lambda text: not text.endswith("\n"))
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-5, max_value=2_000_000)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | TEXT
    | st.sampled_from(NEAR)
)
PIECES = st.sampled_from(
    [ENTREE, SORTIE, SOLDE, ANNULATION, creation()["titulaire"], creation()["action"]]
).map(copy.deepcopy)
VALUES = st.recursive(
    SCALARS | PIECES,
    lambda children: (
        st.lists(children, max_size=2)
        | st.dictionaries(
            st.sampled_from(["type", "code", "x", "date_entree"]), children, max_size=2
        )
    ),
    max_leaves=4,
)


def _paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if not isinstance(node, dict):
        return []
    found = []
    for key, value in node.items():
        found.append((*prefix, key))
        found += _paths(value, (*prefix, key))
    return found


def _mutate(body: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    paths = _paths(body)
    if not paths:
        return body
    *parents, last = data.draw(st.sampled_from(paths))
    target = body
    for part in parents:
        target = target[part]
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace":
        target[last] = data.draw(VALUES)
    elif action == "delete":
        del target[last]
    else:
        names = st.sampled_from([*target, "inconnu", *models.LigneLot.model_fields])
        target[data.draw(names)] = data.draw(VALUES)
    return body


def mock_accepts(name: str, body: Any) -> bool:
    model, check, _ = CASES[name]
    try:
        parsed = model.model_validate_json(json.dumps(body))
    except ValidationError:
        return False
    return not check(parsed)


def contract_accepts(name: str, body: Any) -> bool:
    return bool(component_validator(name).is_valid(body))


@pytest.mark.parametrize("name", CASES)
def test_the_valid_examples_are_valid_for_both(name: str) -> None:
    for body in CASES[name][2]:
        assert mock_accepts(name, body)
        assert contract_accepts(name, body)


@pytest.mark.parametrize("name", CASES)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_the_mock_refuses_what_the_contract_refuses(name: str, data: st.DataObject) -> None:
    body = copy.deepcopy(data.draw(st.sampled_from(CASES[name][2])))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        body = _mutate(body, data)
    assert mock_accepts(name, body) == contract_accepts(name, body), body


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("Solde", {**SOLDE, "taux_horaire_cents": 1250.0}),  # JSON Schema's integer
        ("Solde", {**SOLDE, "taux_horaire_cents": "1250"}),
        ("Solde", {**SOLDE, "taux_realisation": True}),
        ("Solde", {**SOLDE, "taux_horaire_cents": 1_000_000}),
        ("Solde", {**SOLDE, "taux_horaire_cents": 1_000_001}),
        ("Solde", {**SOLDE, "cout_pedagogique_cents": 9_999_990_001}),
        ("Solde", {**SOLDE, "heures_realisees_centre": "9999.99"}),
        ("Solde", {**SOLDE, "heures_realisees_centre": "10000"}),
        ("Solde", {**SOLDE, "heures_realisees_centre": "01000"}),
        ("Entree", {"date_entree": 1551657600}),
        ("Entree", {"date_entree": "0"}),  # pydantic alone reads it as a timestamp
        ("Entree", {"date_entree": "1551657600"}),
        ("Rectification", {}),
        ("Rectification", {"date_entree": None}),
        ("Recherche", {"reference_financeur": "R", "nir": NIR}),
        ("LigneLot", {**creation(), "entree": None}),
        ("Creation", {**creation(), "action": {"numero": "1", "formacode": None}}),
    ],
)
def test_edge_cases_get_the_same_verdict(name: str, body: dict[str, Any]) -> None:
    assert mock_accepts(name, body) == contract_accepts(name, body)
