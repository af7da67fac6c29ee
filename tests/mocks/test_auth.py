"""The token (client credentials), its expiry, the bearer check and the quota."""

from __future__ import annotations

import pytest

from tests.mocks.builders import creation
from tests.mocks.harness import TOKEN_FORM, Agora, agora_mock

PROTECTED = [
    ("POST", "/dossiers/recherche"),
    ("POST", "/dossiers"),
    ("GET", "/dossiers/AG000000000001"),
    ("PATCH", "/dossiers/AG000000000001"),
    ("POST", "/dossiers/AG000000000001/entree"),
    ("POST", "/dossiers/AG000000000001/sortie"),
    ("POST", "/dossiers/AG000000000001/solde"),
    ("POST", "/dossiers/AG000000000001/annulation"),
    ("POST", "/lots"),
    ("GET", "/lots/LT000000000001"),
    ("GET", "/lots/LT000000000001/compte-rendu"),
]


async def test_a_token_is_issued_for_the_configured_credentials(agora: Agora) -> None:
    response = await agora.client.post("/agora/v2/oauth/token", data=TOKEN_FORM)
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"
    assert response.json()["expires_in"] == 600
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("field", ["client_id", "client_secret"])
async def test_wrong_credentials_are_401_jeton_invalide(agora: Agora, field: str) -> None:
    response = await agora.client.post("/agora/v2/oauth/token", data={**TOKEN_FORM, field: "wrong"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "JETON_INVALIDE"


@pytest.mark.parametrize(
    "form",
    [
        {**TOKEN_FORM, "grant_type": "password"},
        {"grant_type": "client_credentials", "client_id": "agora-bridge-demo"},
    ],
)
async def test_a_malformed_token_request_is_400(agora: Agora, form: dict[str, str]) -> None:
    response = await agora.client.post("/agora/v2/oauth/token", data=form)
    assert response.status_code == 400
    assert response.json()["code"] == "FORMAT_INVALIDE"


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("token", ["", "not-a-token"])
async def test_every_route_wants_a_valid_bearer_token(
    agora: Agora, method: str, path: str, token: str
) -> None:
    agora.token = token
    response = await agora.call(method, path, {}, key="k")
    assert response.status_code == 401
    assert response.json()["code"] == "JETON_INVALIDE"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_token_expires_after_its_lifetime() -> None:
    async with agora_mock(token_ttl_s=60) as agora:
        agora.clock.advance(seconds=59)
        assert (
            await agora.call("POST", "/dossiers/recherche", {"reference_financeur": "R"})
        ).status_code == 200
        agora.clock.advance(seconds=1)
        response = await agora.call("POST", "/dossiers/recherche", {"reference_financeur": "R"})
        assert response.status_code == 401
        assert response.json()["code"] == "JETON_INVALIDE"


async def test_the_quota_answers_429_with_retry_after_1() -> None:
    async with agora_mock(rate_limit=3) as agora:  # the token took one request
        statuses = [
            (await agora.call("POST", "/dossiers", creation(f"R-{n}"), key=f"k{n}")).status_code
            for n in range(3)
        ]
        assert statuses == [201, 201, 429]
        response = await agora.call("POST", "/dossiers", creation("R-9"), key="k9")
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert response.json()["code"] == "QUOTA_DEPASSE"
        assert (await agora.stats())["dossiers"] == 2  # refused requests apply nothing
