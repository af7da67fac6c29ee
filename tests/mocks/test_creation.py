"""Creation (flow 2): idempotency keys, DOSSIER_EXISTANT, and reading the dossier back."""

from __future__ import annotations

import json

from tests.mocks.builders import NOW, changed, creation
from tests.mocks.harness import Agora


async def test_a_creation_answers_201_valide_and_the_dossier_reads_back(agora: Agora) -> None:
    response = await agora.call("POST", "/dossiers", creation("R-1"), key="k1")
    assert response.status_code == 201
    id_agora = response.json()["id_agora"]
    assert response.json() == {"id_agora": id_agora, "statut": "VALIDE"}
    dossier = await agora.get(id_agora)
    assert dossier == {
        "id_agora": id_agora,
        "statut": "VALIDE",
        **creation("R-1"),
        "historique": [
            {
                "operation": "CREATION",
                "horodatage": NOW.isoformat(),
                "request_id": agora.request_ids[0],
            }
        ],
    }


async def test_the_same_key_and_body_replay_the_first_201(agora: Agora) -> None:
    first = await agora.call("POST", "/dossiers", creation("R-1"), key="k1")
    # Same JSON, other spacing and key order: the same body.
    same = json.dumps(creation("R-1"), indent=2, sort_keys=True).encode()
    replay = await agora.call(
        "POST", "/dossiers", content=same, key="k1", headers={"Content-Type": "application/json"}
    )
    assert replay.status_code == 201
    assert replay.json() == first.json()
    stats = await agora.stats()
    assert stats["dossiers"] == 1
    assert stats["rejeux_idempotents"] == 1


async def test_the_replay_is_the_first_answer_even_after_the_dossier_moved(agora: Agora) -> None:
    id_agora = await agora.create(creation("R-1"), key="k1")
    await agora.call("POST", f"/dossiers/{id_agora}/entree", {"date_entree": "2019-03-04"})
    replay = await agora.call("POST", "/dossiers", creation("R-1"), key="k1")
    assert replay.json() == {"id_agora": id_agora, "statut": "VALIDE"}


async def test_the_same_key_with_another_body_is_422(agora: Agora) -> None:
    await agora.call("POST", "/dossiers", creation("R-1"), key="k1")
    response = await agora.call("POST", "/dossiers", creation("R-2"), key="k1")
    assert response.status_code == 422
    assert response.json()["code"] == "CLE_IDEMPOTENCE_REUTILISEE"
    assert (await agora.stats())["dossiers"] == 1


async def test_a_failed_request_does_not_keep_its_key(agora: Agora) -> None:
    bad = changed(creation("R-1"), "organisme.siret", "73282932000075")
    assert (await agora.call("POST", "/dossiers", bad, key="k1")).status_code == 422
    response = await agora.call("POST", "/dossiers", creation("R-1"), key="k1")
    assert response.status_code == 201


async def test_keys_are_kept_24_hours(agora: Agora) -> None:
    id_agora = await agora.create(creation("R-1"), key="k1")
    agora.clock.advance(hours=23, minutes=59)
    await agora.authenticate()  # the first token has expired long ago
    assert (await agora.call("POST", "/dossiers", creation("R-1"), key="k1")).status_code == 201
    agora.clock.advance(minutes=1)
    await agora.authenticate()
    # Forgotten: the same request is now a new creation, which collides.
    response = await agora.call("POST", "/dossiers", creation("R-1"), key="k1")
    assert response.status_code == 409
    assert response.json()["id_agora"] == id_agora


async def test_a_creation_without_key_is_400(agora: Agora) -> None:
    response = await agora.call("POST", "/dossiers", creation("R-1"))
    assert response.status_code == 400
    assert response.json()["erreurs"][0]["champ"] == "Idempotency-Key"


async def test_an_existing_key_is_409_dossier_existant_naming_it(agora: Agora) -> None:
    id_agora = await agora.create(creation("R-1"))
    response = await agora.call("POST", "/dossiers", creation("R-1"), key="other")
    assert response.status_code == 409
    assert response.json()["code"] == "DOSSIER_EXISTANT"
    assert response.json()["id_agora"] == id_agora
    assert (await agora.stats())["creations_refusees_existant"] == 1


async def test_the_same_reference_under_another_financeur_is_another_dossier(agora: Agora) -> None:
    first = await agora.create(creation("R-1"))
    second = await agora.create(creation("R-1", code_financeur="REG53"))
    assert first != second


async def test_a_request_without_x_request_id_records_none(agora: Agora) -> None:
    response = await agora.client.post(
        "/agora/v2/dossiers",
        json=creation("R-1"),
        headers={"Authorization": f"Bearer {agora.token}", "Idempotency-Key": "k"},
    )
    dossier = await agora.get(response.json()["id_agora"])
    assert dossier["historique"][0]["request_id"] is None


async def test_an_unknown_dossier_is_404(agora: Agora) -> None:
    response = await agora.call("GET", "/dossiers/AG999999999999")
    assert response.status_code == 404
    assert response.json()["code"] == "DOSSIER_INCONNU"
