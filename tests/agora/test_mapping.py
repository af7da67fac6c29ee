"""The one mapping from our model to AGORA's bodies, and back."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from agora_bridge.agora import schemas as wire
from agora_bridge.agora.mapping import body_for, from_wire, lot_line
from agora_bridge.decision.dossier import AgoraDossier, Rectifier, SortieAgora
from agora_bridge.decision.planner import plan, project
from agora_bridge.snapshots.model import Statut
from tests.builders import NIR_BODY, snapshot
from tests.mocks.builders import creation as spec_example


def as_json(model: BaseModel) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(model.model_dump_json())
    return result


def bodies(step: str, **changes: Any) -> list[dict[str, Any]]:
    ops = plan(None, snapshot(step, **changes)).operations
    return [as_json(body_for(op, code_financeur="REG52")) for op in ops]


def test_the_creation_body_is_the_spec_example() -> None:
    creation, *_ = bodies("VALIDE")
    assert creation == spec_example()


def test_the_transition_bodies() -> None:
    _, entree, sortie, solde = bodies("SOLDE", **{"solde.heures_realisees_centre": "812.5"})
    assert entree == {"date_entree": "2019-03-04"}
    assert sortie == {"date_sortie": "2019-09-27", "motif_sortie": "FIN_FORMATION"}
    assert solde == {
        "date_solde": "2019-10-10",
        "heures_realisees_centre": "812.5",
        "heures_realisees_entreprise": "40.5",
        "taux_realisation": 100,
        "taux_horaire_cents": 1250,
        "cout_pedagogique_cents": 1_015_625,
    }
    (_, annulation) = bodies("ANNULE")
    assert annulation == {"date_annulation": "2019-03-01", "motif_annulation": "DESISTEMENT"}


def test_a_rectification_sends_only_what_changed() -> None:
    body = body_for(
        Rectifier(sortie=SortieAgora(date(2019, 9, 1), "ABANDON")), code_financeur="REG52"
    )
    assert as_json(body) == {"date_sortie": "2019-09-01", "motif_sortie": "ABANDON"}


def test_null_optional_parts_travel_as_null() -> None:
    creation, *_ = bodies("VALIDE", **{"action.formacode": None, "action.certification": None})
    assert creation["action"] == {"numero": "20_1262663", "formacode": None, "certification": None}


@pytest.mark.parametrize("step", ["VALIDE", "ENTRE", "SORTI", "SOLDE", "ANNULE"])
def test_a_lot_line_carries_the_final_state(step: str) -> None:
    target = project(snapshot(step))
    line = as_json(lot_line(target, code_financeur="REG52"))
    stages = {"entree", "sortie", "solde", "annulation"} & set(line)
    expected = {
        "VALIDE": set(),
        "ENTRE": {"entree"},
        "SORTI": {"entree", "sortie"},
        "SOLDE": {"entree", "sortie", "solde"},
        "ANNULE": {"annulation"},
    }[step]
    assert stages == expected


@pytest.mark.parametrize("step", ["VALIDE", "ENTRE", "SORTI", "SOLDE", "ANNULE"])
def test_agoras_view_reads_back_into_our_model(step: str) -> None:
    target = project(snapshot(step, **{"session.duree_heures": "840.50"}))
    line = as_json(lot_line(target, code_financeur="REG52"))
    answer = wire.from_agora(
        wire.Dossier,
        {**line, "id_agora": "AG000000000001", "statut": step, "historique": [], "nouveau": 1},
    )
    assert from_wire(answer) == target


def test_a_changed_value_reads_back_different() -> None:
    target = project(snapshot("SORTI"))
    line = as_json(lot_line(target, code_financeur="REG52"))
    line["sortie"]["motif_sortie"] = "ABANDON"
    answer = wire.from_agora(
        wire.Dossier, {**line, "id_agora": "AG000000000001", "statut": "SORTI"}
    )
    assert from_wire(answer) != target
    assert from_wire(answer) == replace(target, sortie=SortieAgora(date(2019, 9, 27), "ABANDON"))


def test_hours_are_exact_decimals_both_ways() -> None:
    target: AgoraDossier = project(snapshot("SOLDE", **{"solde.heures_realisees_centre": "0.1"}))
    line = as_json(lot_line(target, code_financeur="REG52"))
    assert line["solde"]["heures_realisees_centre"] == "0.1"
    answer = wire.from_agora(
        wire.Dossier, {**line, "id_agora": "AG000000000001", "statut": "SOLDE"}
    )
    solde = from_wire(answer).solde
    assert solde is not None
    assert solde.heures_realisees_centre == Decimal("0.1")
    assert from_wire(answer).statut is Statut.SOLDE


def test_a_wire_validation_error_never_quotes_the_nir() -> None:
    with pytest.raises(ValidationError) as error:
        wire.Titulaire(
            nir=NIR_BODY + "00",
            nom_naissance="DUPONT",
            prenom="JEAN",
            date_naissance=date(1985, 5, 12),
            sexe="M",
        )
    assert NIR_BODY not in str(error.value)
