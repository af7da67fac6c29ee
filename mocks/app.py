"""The AGORA V2 mock: `create_app` and the `/agora/v2` routes (agora-v2.md).

Handlers take the raw `Request` and parse bodies themselves: the order of the checks (format,
rules, existence) and the shape of every error are AGORA's, not FastAPI's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import cast

from fastapi import APIRouter, FastAPI, Request
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from agora_bridge.serving import allowed_methods
from agora_bridge.settings import DEMO_AGORA_CLIENT_ID, DEMO_AGORA_CLIENT_SECRET
from mocks import control, flows, headers
from mocks.auth import parse_form
from mocks.gateway import API_PREFIX, Gateway
from mocks.headers import FORM, JSON, NDJSON
from mocks.idempotency import HEADER, required_key
from mocks.lots import MAX_BYTES, too_large
from mocks.problems import (
    INDISPONIBLE,
    METHODE_NON_AUTORISEE,
    ROUTE_INCONNUE,
    Probleme,
    json_response,
    problem_response,
)
from mocks.state import Clock, MockState, utc_now

# Accepted by default by `agora-bridge mock-agora`; the bridge refuses them outside demo/tests.
# The bridge's settings know these values too, to refuse them in production.
DEMO_CLIENT_ID = DEMO_AGORA_CLIENT_ID
DEMO_CLIENT_SECRET = DEMO_AGORA_CLIENT_SECRET

router = APIRouter(prefix=API_PREFIX)


class IdAgoraSegment(Convertor[str]):
    """Any path segment but `recherche`, the search's own resource (POST only).

    So that `PATCH /dossiers/recherche` is a 405 naming POST, not a rectification of a
    dossier called "recherche". Other malformed ids still reach the routes: 404 DOSSIER_INCONNU.
    """

    regex = "(?!recherche(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id_agora", IdAgoraSegment())


@dataclass(frozen=True, slots=True)
class Appel:
    """Who calls, and under which X-Request-Id, once the request's envelope is checked."""

    client_id: str
    request_id: str | None


def mock_of(request: Request) -> MockState:
    return cast(MockState, request.app.state.mock)


def appel(request: Request, media_type: str | None = None) -> Appel:
    """The token (401), the X-Request-Id (400), the body's media type (415), in that order."""
    client_id = mock_of(request).tokens.client_of(request.headers.get("authorization"))
    request_id = headers.request_id(request.headers.get(headers.REQUEST_ID))
    if media_type is not None:
        headers.require_media_type(request.headers.get(headers.CONTENT_TYPE), media_type)
    return Appel(client_id, request_id)


@router.post("/oauth/token")
async def jeton(request: Request) -> Response:
    headers.request_id(request.headers.get(headers.REQUEST_ID))
    headers.require_media_type(request.headers.get(headers.CONTENT_TYPE), FORM)
    token = mock_of(request).tokens.issue(parse_form(await request.body()))
    response = json_response(token)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/dossiers/recherche")
async def rechercher(request: Request) -> Response:
    appel(request, JSON)
    return json_response(flows.rechercher(mock_of(request), await request.body()))


@router.post("/dossiers")
async def creer(request: Request) -> Response:
    call = appel(request, JSON)
    key = required_key(request.headers.get(HEADER))
    created = flows.creer(
        mock_of(request),
        client_id=call.client_id,
        key=key,
        body=await request.body(),
        request_id=call.request_id,
    )
    return json_response(created, status=201)


@router.get("/dossiers/{id_agora:id_agora}")
async def lire(request: Request, id_agora: str) -> Response:
    appel(request)
    dossier = flows.find(mock_of(request), id_agora)
    return Response(dossier.to_json_bytes(), media_type=JSON)


@router.patch("/dossiers/{id_agora:id_agora}")
async def rectifier(request: Request, id_agora: str) -> Response:
    call = appel(request, JSON)
    body = await request.body()
    dossier = flows.rectifier(
        mock_of(request), id_agora=id_agora, body=body, request_id=call.request_id
    )
    return json_response(dossier)


def _transition_route(step: str) -> None:
    async def transition(request: Request, id_agora: str) -> Response:
        call = appel(request, JSON)
        result = flows.transition(
            mock_of(request),
            id_agora=id_agora,
            step=step,
            body=await request.body(),
            request_id=call.request_id,
        )
        return json_response(result)

    router.add_api_route(f"/dossiers/{{id_agora:id_agora}}/{step}", transition, methods=["POST"])


for _step in flows.TRANSITIONS:
    _transition_route(_step)


@router.post("/lots")
async def deposer_lot(request: Request) -> Response:
    call = appel(request, NDJSON)
    key = required_key(request.headers.get(HEADER))
    body = await read_at_most(request, MAX_BYTES)
    lot = mock_of(request).lots.submit(
        client_id=call.client_id, key=key, body=body, request_id=call.request_id
    )
    return json_response(lot.receipt(), status=202)


@router.get("/lots/{id_lot}")
async def lire_lot(request: Request, id_lot: str) -> Response:
    appel(request)
    return json_response(mock_of(request).lots.get(id_lot).summary())


@router.get("/lots/{id_lot}/compte-rendu")
async def compte_rendu(request: Request, id_lot: str) -> Response:
    appel(request)
    return Response(mock_of(request).lots.compte_rendu(id_lot), media_type=NDJSON)


async def read_at_most(request: Request, limit: int) -> bytes:
    """The body, or 413 once it passes `limit` bytes."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
    # Read to the end even when too large: a client still sending would otherwise see a
    # broken connection instead of the 413.
    if size > limit:
        raise too_large(f"{size} octets, au plus {limit}")
    return b"".join(chunks)


def create_app(
    *,
    client_id: str,
    client_secret: str,
    lot_delay_s: float = 1.0,
    rate_limit: int | None = None,
    token_ttl_s: int = 600,
    clock: Clock = utc_now,
) -> FastAPI:
    """A fresh mock with its own state; `clock` gives aware datetimes (today is Paris's)."""
    mock = MockState(
        client_id=client_id,
        client_secret=client_secret,
        lot_delay_s=lot_delay_s,
        rate_limit=rate_limit,
        token_ttl_s=token_ttl_s,
        clock=clock,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await mock.lots.aclose()

    # FastAPI's generated OpenAPI would describe the handlers, not AGORA: contracts/ does.
    # No OpenTelemetry either: FastAPI would look for a configured provider on every request.
    app = FastAPI(
        title="AGORA V2 mock",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.mock = mock
    app.include_router(router)
    app.include_router(control.router)
    app.add_middleware(Gateway, mock=mock, routes=router.routes)
    app.add_exception_handler(Probleme, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(Exception, _on_unexpected)
    return app


async def _on_problem(_: Request, error: Exception) -> Response:
    return problem_response(cast(Probleme, error))


async def _on_http_exception(request: Request, error: Exception) -> Response:
    """Routing's own answers: an unknown path (404), a method the path does not take (405)."""
    status = cast(StarletteHTTPException, error).status_code
    if status != 405:
        detail = f"{request.method} {request.url.path}: pas de telle route"
        return problem_response(Probleme(status, ROUTE_INCONNUE, detail))
    # Starlette's own Allow names only the first route of the path: GET, not also PATCH.
    routes = [*router.routes, *control.router.routes]
    allow = ", ".join(allowed_methods(routes, request.scope))
    detail = f"{request.method} non autorisé sur {request.url.path} (autorisé: {allow})"
    problem = Probleme(405, METHODE_NON_AUTORISEE, detail, headers={"Allow": allow})
    return problem_response(problem)


async def _on_unexpected(_: Request, error: Exception) -> Response:
    return problem_response(Probleme(500, INDISPONIBLE, f"erreur du mock: {type(error).__name__}"))
