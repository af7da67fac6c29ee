"""Flow 1: the search, by reference or by NIR and session, across financeurs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.mocks.builders import NIR, creation, ligne
from tests.mocks.harness import Agora


async def seed(agora: Agora, body: dict[str, Any]) -> str:
    response = await agora.client.post("/__mock__/dossiers", json=body)
    assert response.status_code == 201, response.text
    id_agora: str = response.json()["id_agora"]
    return id_agora


async def test_a_search_by_reference_includes_other_financeurs(agora: Agora) -> None:
    ours = await agora.create(creation("R-1"))
    theirs = await seed(agora, ligne("R-1", "SORTI", code_financeur="REG53"))
    await agora.create(creation("R-2"))
    response = await agora.call("POST", "/dossiers/recherche", {"reference_financeur": "R-1"})
    assert response.status_code == 200
    assert response.json() == {
        "resultats": [
            {
                "id_agora": ours,
                "code_financeur": "REG52",
                "reference_financeur": "R-1",
                "statut": "VALIDE",
            },
            {
                "id_agora": theirs,
                "code_financeur": "REG53",
                "reference_financeur": "R-1",
                "statut": "SORTI",
            },
        ]
    }


async def test_a_search_by_nir_and_session(agora: Agora) -> None:
    theirs = await seed(agora, ligne("OTHER-7", code_financeur="POLE_EMPLOI"))
    other_session = creation("R-2", session={**creation()["session"], "numero": "999"})
    await agora.create(other_session)
    search = {"nir": NIR, "numero_session": "1330305"}
    found = (await agora.call("POST", "/dossiers/recherche", search)).json()["resultats"]
    assert [result["id_agora"] for result in found] == [theirs]


async def test_nothing_found_is_an_empty_list(agora: Agora) -> None:
    response = await agora.call("POST", "/dossiers/recherche", {"reference_financeur": "NONE"})
    assert response.json() == {"resultats": []}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"nir": NIR},
        {"reference_financeur": "R-1", "nir": NIR, "numero_session": "1"},
        {"reference_financeur": None},
        {"code_financeur": "REG52"},
    ],
)
async def test_a_search_is_one_of_the_two_forms(agora: Agora, body: dict[str, Any]) -> None:
    response = await agora.call("POST", "/dossiers/recherche", body)
    assert response.status_code == 400
    assert response.json()["code"] == "FORMAT_INVALIDE"
