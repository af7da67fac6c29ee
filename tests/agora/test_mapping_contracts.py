"""Every body the mapping produces validates against `contracts/`, for any valid snapshot."""

from __future__ import annotations

import json
from itertools import islice
from typing import Any

import pytest
from hypothesis import given, settings
from pydantic import BaseModel

from agora_bridge.agora.mapping import body_for, lot_line
from agora_bridge.decision.dossier import (
    Annuler,
    Creer,
    Entrer,
    Operation,
    Rectifier,
    Solder,
    Sortir,
    apply,
)
from agora_bridge.decision.planner import plan, project
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.synthetic import Mix, generate
from tests.builders import TODAY
from tests.contracts.validate import validate_lot_line, validate_request_body
from tests.strategies import histories

ID = "AG000000000001"
ROUTES: dict[type[Operation], tuple[str, str]] = {
    Creer: ("POST", "/agora/v2/dossiers"),
    Entrer: ("POST", f"/agora/v2/dossiers/{ID}/entree"),
    Sortir: ("POST", f"/agora/v2/dossiers/{ID}/sortie"),
    Solder: ("POST", f"/agora/v2/dossiers/{ID}/solde"),
    Annuler: ("POST", f"/agora/v2/dossiers/{ID}/annulation"),
    Rectifier: ("PATCH", f"/agora/v2/dossiers/{ID}"),
}
SYNTHETIC = [
    Snapshot.model_validate_json(line)
    for line in islice(generate(400, seed=11, today=TODAY, mix=Mix.ALL_VALID), 400)
]


def as_json(model: BaseModel) -> Any:
    return json.loads(model.model_dump_json())


def check_operation(op: Operation) -> None:
    method, path = ROUTES[type(op)]
    validate_request_body(method, path, as_json(body_for(op, code_financeur="REG52")))


@pytest.mark.parametrize("snapshot", SYNTHETIC, ids=lambda s: s.id_dossier)
def test_synthetic_dossiers_map_to_valid_bodies(snapshot: Snapshot) -> None:
    for op in plan(None, snapshot).operations:
        check_operation(op)
    validate_lot_line(as_json(lot_line(project(snapshot), code_financeur="REG52")))


@settings(max_examples=150, deadline=None)
@given(histories())
def test_every_operation_of_any_history_maps_to_a_valid_body(history: list[Snapshot]) -> None:
    acknowledged = None
    for snapshot in history:
        for op in plan(acknowledged, snapshot).operations:
            check_operation(op)
            acknowledged = apply(acknowledged, op)


def test_a_body_that_breaks_the_contract_is_caught() -> None:
    (creer, *_) = plan(None, SYNTHETIC[0]).operations
    body = as_json(body_for(creer, code_financeur="REG52"))
    body["titulaire"]["nir"] += "00"  # the 15-character NIR instead of AGORA's 13
    with pytest.raises(AssertionError, match="nir"):
        validate_request_body("POST", "/agora/v2/dossiers", body)
