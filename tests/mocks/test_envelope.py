"""What surrounds a body: X-Request-Id, Idempotency-Key, Content-Type, and the methods a path takes.

Each answer of a contract route is checked against contracts/ by the harness.
"""

from __future__ import annotations

import pytest

from tests.mocks.builders import ENTREE, creation, ligne, ndjson
from tests.mocks.harness import TOKEN_FORM, Agora

JSON = "application/json"
NDJSON = "application/x-ndjson"


def champs(body: dict[str, object]) -> list[object]:
    erreurs = body["erreurs"]
    assert isinstance(erreurs, list)
    return [erreur["champ"] for erreur in erreurs]


@pytest.mark.parametrize("request_id", ["req-1", "", "9b1f3c1e0000400080000000000105e", "x" * 36])
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/dossiers/AG000000000001"), ("POST", "/dossiers/recherche")]
)
async def test_an_x_request_id_that_is_not_a_uuid_is_400(
    agora: Agora, method: str, path: str, request_id: str
) -> None:
    body = {"reference_financeur": "R-1"} if method == "POST" else None
    response = await agora.call(method, path, body, headers={"X-Request-Id": request_id})
    assert response.status_code == 400
    assert response.json()["code"] == "FORMAT_INVALIDE"
    assert champs(response.json()) == ["X-Request-Id"]


async def test_a_uuid_in_capitals_is_a_uuid_and_is_recorded(agora: Agora) -> None:
    request_id = "9B1F3C1E-0000-4000-8000-00000000105E"
    headers = {"X-Request-Id": request_id}
    response = await agora.call("POST", "/dossiers", creation(), key="k", headers=headers)
    assert response.status_code == 201
    dossier = await agora.get(response.json()["id_agora"])
    assert dossier["historique"][0]["request_id"] == request_id


async def test_the_token_route_checks_the_x_request_id_too(agora: Agora) -> None:
    headers = {"X-Request-Id": "not-a-uuid"}
    response = await agora.client.post("/agora/v2/oauth/token", data=TOKEN_FORM, headers=headers)
    assert response.status_code == 400
    assert champs(response.json()) == ["X-Request-Id"]


@pytest.mark.parametrize(("length", "status"), [(255, 201), (256, 400)])
async def test_an_idempotency_key_has_at_most_255_characters(
    agora: Agora, length: int, status: int
) -> None:
    response = await agora.call("POST", "/dossiers", creation(), key="k" * length)
    assert response.status_code == status
    if status == 400:
        assert champs(response.json()) == ["Idempotency-Key"]
        assert len(agora.state.store) == 0


async def test_a_lot_key_over_255_characters_is_400(agora: Agora) -> None:
    response = await agora.call("POST", "/lots", content=ndjson(ligne("R-1")), key="k" * 256)
    assert response.status_code == 400
    assert champs(response.json()) == ["Idempotency-Key"]
    assert agora.state.stats.lots == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-ndjson", "", "json"])
async def test_a_creation_in_another_media_type_is_415(agora: Agora, content_type: str) -> None:
    body = ndjson(creation())
    headers = {"Content-Type": content_type}
    response = await agora.call("POST", "/dossiers", content=body, key="k", headers=headers)
    assert response.status_code == 415
    assert response.json()["code"] == "MEDIA_TYPE_NON_SUPPORTE"
    assert champs(response.json()) == ["Content-Type"]
    assert len(agora.state.store) == 0


async def test_a_creation_without_content_type_is_415(agora: Agora) -> None:
    request = agora.client.build_request(
        "POST",
        "/agora/v2/dossiers",
        content=ndjson(creation()),
        headers={"Authorization": f"Bearer {agora.token}", "Idempotency-Key": "k"},
    )
    assert "content-type" not in request.headers
    assert (await agora.client.send(request)).status_code == 415


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
async def test_json_with_parameters_or_capitals_is_json(agora: Agora, content_type: str) -> None:
    body = ndjson(creation())
    headers = {"Content-Type": content_type}
    response = await agora.call("POST", "/dossiers", content=body, key="k", headers=headers)
    assert response.status_code == 201


@pytest.mark.parametrize("content_type", [JSON, "text/plain"])
async def test_a_lot_in_another_media_type_is_415(agora: Agora, content_type: str) -> None:
    headers = {"Content-Type": content_type}
    body = ndjson(ligne("R-1"))
    response = await agora.call("POST", "/lots", content=body, key="k", headers=headers)
    assert response.status_code == 415
    assert agora.state.stats.lots == 0


async def test_a_transition_in_another_media_type_is_415(agora: Agora) -> None:
    id_agora = await agora.create(creation())
    body = ndjson(ENTREE)
    headers = {"Content-Type": "text/plain"}
    response = await agora.call(
        "POST", f"/dossiers/{id_agora}/entree", content=body, headers=headers
    )
    assert response.status_code == 415
    assert (await agora.get(id_agora))["statut"] == "VALIDE"


async def test_a_json_token_request_is_415(agora: Agora) -> None:
    response = await agora.client.post("/agora/v2/oauth/token", json=TOKEN_FORM)
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/dossiers/AG000000000001", "GET, PATCH"),
        ("PUT", "/dossiers/AG000000000001", "GET, PATCH"),
        ("GET", "/dossiers", "POST"),
        ("GET", "/dossiers/AG000000000001/entree", "POST"),
        ("POST", "/lots/LT000000000001", "GET"),
        ("GET", "/oauth/token", "POST"),
        ("PATCH", "/dossiers/recherche", "POST"),  # not a dossier called "recherche"
        ("GET", "/dossiers/recherche", "POST"),
    ],
)
async def test_a_method_the_path_does_not_take_is_405_with_allow(
    agora: Agora, method: str, path: str, allow: str
) -> None:
    response = await agora.call(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "METHODE_NON_AUTORISEE"
    assert "non autorisé" in response.json()["detail"]


async def test_head_is_not_implied_by_get(agora: Agora) -> None:
    # FastAPI routes take only the methods they declare; Allow says so.
    response = await agora.call("HEAD", "/lots/LT000000000001")
    assert (response.status_code, response.headers["allow"]) == (405, "GET")


async def test_an_unknown_path_is_still_404(agora: Agora) -> None:
    response = await agora.call("GET", "/dossiers/AG000000000001/inconnu")
    assert response.status_code == 404
    assert response.json()["code"] == "ROUTE_INCONNUE"
    assert "allow" not in response.headers
