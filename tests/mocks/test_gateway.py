"""The gateway: one route match per request, for the counts and for calling the handler.

It calls the `/agora/v2` handlers itself rather than through FastAPI's routing (mocks/gateway.py
says why); these tests pin what FastAPI's routing did and the gateway must keep doing.
"""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from mocks import flows
from mocks.app import router
from mocks.gateway import Routes
from mocks.server import running_mock
from tests.mocks.builders import NIR, creation
from tests.mocks.harness import TOKEN_FORM, Agora


async def test_every_answer_is_counted_under_its_route_template(agora: Agora) -> None:
    id_agora = await agora.create(creation("R-1"))
    await agora.call("GET", f"/dossiers/{id_agora}")
    await agora.call("GET", "/dossiers/AG000000000777")
    await agora.call("DELETE", f"/dossiers/{id_agora}")
    await agora.call("PATCH", "/dossiers/recherche")
    await agora.call("GET", "/dossiers/AG000000000001/inconnu")
    requetes = (await agora.stats())["requetes"]
    assert requetes == {
        "POST /agora/v2/oauth/token 200": 1,
        "POST /agora/v2/dossiers 201": 1,
        "GET /agora/v2/dossiers/{id_agora} 200": 1,
        "GET /agora/v2/dossiers/{id_agora} 404": 1,
        # A method the path does not take: the template of the path; unknown: the path.
        "DELETE /agora/v2/dossiers/{id_agora} 405": 1,
        "PATCH /agora/v2/dossiers/recherche 405": 1,
        "GET /agora/v2/dossiers/AG000000000001/inconnu 404": 1,
    }


async def test_a_failing_handler_is_a_500_problem_naming_only_the_error_type(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError(f"a message quoting {NIR}")

    monkeypatch.setattr(flows, "find", broken)
    async with running_mock() as mock, httpx.AsyncClient(base_url=mock.url) as client:
        token = (await client.post("/agora/v2/oauth/token", data=TOKEN_FORM)).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        with caplog.at_level(logging.CRITICAL, logger="uvicorn.error"):
            response = await client.get("/agora/v2/dossiers/AG000000000001", headers=headers)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "erreur du mock: RuntimeError"
    assert NIR not in response.text


def test_a_handler_that_needs_fastapi_injection_is_refused_at_start() -> None:
    async def with_a_body(request: Request, body: dict[str, str]) -> Response:
        return Response()

    route = APIRoute("/agora/v2/dossiers", with_a_body, methods=["POST"])
    with pytest.raises(TypeError, match="/agora/v2/dossiers"):
        Routes([route])


def test_the_match_gives_the_handler_and_its_path_parameters() -> None:
    scope = {"type": "http", "method": "POST", "path": "/agora/v2/dossiers/AG1/sortie"}
    matched = Routes(router.routes).match(scope)
    assert matched.template == "/agora/v2/dossiers/{id_agora}/sortie"
    assert matched.handler_scope is not None
    assert matched.handler_scope["path_params"] == {"id_agora": "AG1"}
