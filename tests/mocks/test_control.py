"""`/__mock__`: dossiers as NDJSON, stats, seeding, faults configuration, reset."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.mocks.builders import SORTIE, creation, ligne, ndjson
from tests.mocks.harness import Agora


async def test_the_dossiers_are_listed_as_ndjson_with_their_history(agora: Agora) -> None:
    first = await agora.dossier_in("SORTI", creation("R-1"))
    await agora.create(creation("R-2"))
    response = await agora.client.get("/__mock__/dossiers")
    assert response.headers["content-type"] == "application/x-ndjson"
    dossiers = [json.loads(line) for line in response.text.splitlines()]
    assert [dossier["reference_financeur"] for dossier in dossiers] == ["R-1", "R-2"]
    assert dossiers[0] == await agora.get(first)
    assert dossiers[0]["sortie"] == SORTIE
    events = dossiers[0]["historique"]
    assert [(event["operation"], event["request_id"]) for event in events] == list(
        zip(["CREATION", "ENTREE", "SORTIE"], agora.request_ids, strict=False)
    )
    assert all(event["horodatage"].startswith("2026-11-26T10:00:00") for event in events)


async def test_the_stats_have_the_spec_shape(agora: Agora) -> None:
    id_agora = await agora.create(creation("R-1"), key="k")
    await agora.create(creation("R-1"), key="k")
    await agora.call("POST", "/dossiers", creation("R-1"), key="other")
    for _ in range(2):
        await agora.call("POST", f"/dossiers/{id_agora}/entree", {"date_entree": "2019-03-04"})
    body = ndjson(ligne("R-2"), "{", ligne("R-1"))
    await agora.call("POST", "/lots", content=body, key="lot")
    await agora.state.lots.wait_all()
    await agora.call("GET", "/dossiers/AG000000000777")
    assert await agora.stats() == {
        "requetes": {
            "GET /agora/v2/dossiers/{id_agora} 404": 1,
            "POST /agora/v2/dossiers 201": 2,
            "POST /agora/v2/dossiers 409": 1,
            "POST /agora/v2/dossiers/{id_agora}/entree 200": 1,
            "POST /agora/v2/dossiers/{id_agora}/entree 409": 1,
            "POST /agora/v2/lots 202": 1,
            "POST /agora/v2/oauth/token 200": 1,
        },
        "dossiers": 2,
        "creations_refusees_existant": 1,
        "rejeux_idempotents": 1,
        "transitions_deja_appliquees": 1,
        "lots": 1,
        "lignes_lot": {"ACCEPTE": 1, "REJETE": 1, "DOUBLON": 1},
    }


async def test_a_dossier_can_be_seeded_in_any_state_for_any_financeur(agora: Agora) -> None:
    response = await agora.client.post(
        "/__mock__/dossiers",
        json=ligne("R-1", "SOLDE", code_financeur="OPCO_X"),
        headers={"X-Request-Id": "seed-1"},
    )
    assert response.status_code == 201
    dossier = await agora.get(response.json()["id_agora"])
    assert (dossier["code_financeur"], dossier["statut"]) == ("OPCO_X", "SOLDE")
    assert {event["request_id"] for event in dossier["historique"]} == {"seed-1"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"reference_financeur": "R"}, 400),
        ({**creation(), "sortie": SORTIE}, 400),
        (creation(date_validation="2027-01-01"), 422),
    ],
)
async def test_a_seed_is_checked_like_a_lot_line(
    agora: Agora, body: dict[str, Any], status: int
) -> None:
    response = await agora.client.post("/__mock__/dossiers", json=body)
    assert response.status_code == status


async def test_a_seed_of_an_existing_key_is_409(agora: Agora) -> None:
    id_agora = await agora.create(creation("R-1"))
    response = await agora.client.post("/__mock__/dossiers", json=creation("R-1"))
    assert (response.status_code, response.json()["id_agora"]) == (409, id_agora)


@pytest.mark.parametrize(
    "config",
    [
        {"error_rate": 0.6, "reset_rate": 0.6},
        {"error_rate": 1.5},
        {"latency_ms": [100, 10]},
        {"outage": {"from_s": 5, "to_s": 1}},
        {"timeout_rate": 0.1, "surprise": 1},
    ],
)
async def test_an_impossible_fault_configuration_is_400(
    agora: Agora, config: dict[str, Any]
) -> None:
    response = await agora.client.put("/__mock__/faults", json=config)
    assert response.status_code == 400
    assert response.json()["code"] == "FORMAT_INVALIDE"


async def test_the_fault_configuration_is_echoed_with_its_defaults(agora: Agora) -> None:
    response = await agora.client.put("/__mock__/faults", json={"seed": 3, "error_rate": 0.1})
    assert response.json()["seed"] == 3
    assert response.json()["timeout_s"] == 30
    assert response.json()["retry_after_s"] == 1


async def test_reset_empties_everything(agora: Agora) -> None:
    await agora.create(creation("R-1"), key="k")
    await agora.call("POST", "/lots", content=ndjson(ligne("R-2")), key="lot")
    await agora.faults({"error_rate": 1})
    response = await agora.client.post("/__mock__/reset")
    assert response.status_code == 204
    stats = await agora.stats()
    assert (stats["dossiers"], stats["lots"], stats["requetes"]) == (0, 0, {})
    old_token = await agora.call("POST", "/dossiers/recherche", {"reference_financeur": "R-1"})
    assert old_token.status_code == 401  # no valid token, and no fault left
    await agora.authenticate()
    # The key is forgotten with the dossier: the same request creates it again.
    assert (await agora.call("POST", "/dossiers", creation("R-1"), key="k")).status_code == 201
    assert (await agora.stats())["lignes_lot"] == {"ACCEPTE": 0, "REJETE": 0, "DOUBLON": 0}


async def test_an_unknown_route_is_a_problem_too(agora: Agora) -> None:
    response = await agora.client.get("/agora/v2/nothing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_listing_streams_every_dossier_across_chunks(agora: Agora) -> None:
    body = ndjson(*(ligne(f"R-{n}", "ENTRE") for n in range(2500)))
    await agora.call("POST", "/lots", content=body, key="lot")
    await agora.state.lots.wait_all()
    lines = (await agora.client.get("/__mock__/dossiers")).text.splitlines()
    assert len(lines) == 2500
    assert json.loads(lines[-1])["reference_financeur"] == "R-2499"
