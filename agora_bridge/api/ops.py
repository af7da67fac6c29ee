"""The monitoring routes (`docs/OPS.md`): `GET /metrics` (no key: a Prometheus scraper has
none, and it holds no personal data), `GET /ops/status` (role `OPS`), `GET /ops` (role
`OPS` by bearer key, or a browser session opened with an OPS key on `/ops/session`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

import structlog
from async_lru import alru_cache
from fastapi import APIRouter, Depends, FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, Counter
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import HTMLResponse, RedirectResponse, Response

from agora_bridge.api.auth import Credentials, require_roles
from agora_bridge.api.problems import ApiProblem, DatabaseUnavailable, Forbidden, Unauthenticated
from agora_bridge.api.problems import problem_responses as problems
from agora_bridge.api.state import BridgeState, bridge_state
from agora_bridge.ops import page
from agora_bridge.ops.metrics import AdmittedCodes, DatabaseGauges, exposition, read_gauges
from agora_bridge.ops.session import COOKIE, OpsSessions
from agora_bridge.ops.status import EngineView, OpsStatus, read_status
from agora_bridge.snapshots.validation import paris_today
from agora_bridge.storage import ops_sessions
from agora_bridge.storage.callers import Caller, Role

router = APIRouter(tags=["ops"])
State = Annotated[BridgeState, Depends(bridge_state)]
_bearer_ops = require_roles(Role.OPS)
_NO_DATABASE = "the database failed: the ops status cannot be read"


class CrossSiteForm(ApiProblem):
    status, code, title = 403, "ORIGINE_REFUSEE", "Formulaire envoyé depuis un autre site"


@dataclass(frozen=True, slots=True)
class OpsParts:
    """What the ops routes keep for the life of the app (`app.state.ops`)."""

    sessions: OpsSessions
    requests: Counter
    gauges: Callable[[], Awaitable[DatabaseGauges]]
    # The AGORA codes labelling this process's operation counters (a bounded set).
    codes: AdmittedCodes = field(default_factory=AdmittedCodes)


def cached_gauges(app: FastAPI, *, ttl_s: float) -> Callable[[], Awaitable[DatabaseGauges]]:
    """The database's gauges, read at most once every `ttl_s` by this process, concurrent
    scrapes sharing one read: /metrics needs no key, and its reads cost about 0.5 s on a
    database of a million items (docs/OPS.md), so that no client can load the database at
    will. A failed read is not kept."""

    async def read() -> DatabaseGauges:
        state: BridgeState = app.state.bridge
        try:
            async with state.session_maker() as session:
                return await read_gauges(session, now=datetime.now(UTC))
        except (SQLAlchemyError, OSError):
            raise DatabaseUnavailable("the database failed: the metrics cannot be read") from None

    return alru_cache(maxsize=1, ttl=ttl_s)(read)


def _parts(request: Request) -> OpsParts:
    parts: OpsParts = request.app.state.ops
    return parts


def engine_view(state: BridgeState) -> EngineView | None:
    engine = state.delivery
    if engine is None:
        return None
    breaker = engine.breaker
    return EngineView(
        stats=engine.stats, circuit=breaker.state.value, circuit_openings=breaker.opened
    )


async def ops_caller(request: Request, credentials: Credentials) -> Caller:
    """An OPS caller by bearer key, else by a valid session cookie (its key still active)."""
    if credentials is not None:
        return await _bearer_ops(request, credentials)
    read = _parts(request).sessions.read(request.cookies.get(COOKIE))
    if read is None:
        raise Unauthenticated("no API key: send Authorization: Bearer <key>, or open a session")
    key_id, session_id = read
    state: BridgeState = request.app.state.bridge
    if not await ops_sessions.is_open(
        state.session_maker, session_id, key_id, now=datetime.now(UTC)
    ):
        raise Unauthenticated("the session is closed: open a new session")
    caller = await state.keys.caller_of_id(key_id)
    if caller is None or caller.role is not Role.OPS:
        raise Unauthenticated("the session's key is revoked: open a new session")
    # Who read the status, in the request's log line, as for a bearer key.
    structlog.contextvars.bind_contextvars(
        organisation_id=caller.organisation_id, key_id=caller.key_id
    )
    return caller


OpsCaller = Annotated[Caller, Depends(ops_caller)]


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}, **problems(503)},
)
async def metrics(request: Request, state: State) -> Response:
    """Prometheus text format: the queue, parked and held items, the backfill (read from the
    database at most `API__METRICS_CACHE_S` ago), this process's AGORA calls and HTTP
    requests (now)."""
    parts = _parts(request)
    body = exposition(await parts.gauges(), engine_view(state), parts.requests, parts.codes)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/ops/status", response_model=OpsStatus, responses=problems(401, 403, 503))
async def status(state: State, caller: OpsCaller, response: Response) -> OpsStatus:
    """Queue, parked operations with example dossier keys, held dossiers, AGORA's last
    success and the circuit, the backfill, 3-working-day lateness, the ledger head."""
    # Dossier keys, read by a browser's session too: kept in no cache, as the page is.
    response.headers["Cache-Control"] = "no-store"
    return await _status(state)


async def _status(state: BridgeState) -> OpsStatus:
    now = datetime.now(UTC)
    try:
        async with state.session_maker() as session:
            return await read_status(
                session, now=now, today=paris_today(), engine=engine_view(state)
            )
    except (SQLAlchemyError, OSError):
        raise DatabaseUnavailable(_NO_DATABASE) from None


@router.get(
    "/ops",
    response_class=HTMLResponse,
    responses={
        303: {"description": "A browser without a session: to the sign-in form"},
        **problems(401, 403, 503),
    },
)
async def ops_page(request: Request, state: State, credentials: Credentials) -> Response:
    """The ops status for a person, with charts; a browser without a session is sent to
    the sign-in form."""
    try:
        await ops_caller(request, credentials)
    except Unauthenticated:
        if credentials is None and _wants_html(request):
            return RedirectResponse("/ops/session", status_code=303)
        raise
    html = page.ops_page(await _status(state), signed_in=credentials is None)
    return HTMLResponse(html, headers=page.HEADERS)


@router.get("/ops/session", response_class=HTMLResponse)
async def sign_in_form() -> HTMLResponse:
    """The form that opens a browser session with an OPS key."""
    return HTMLResponse(page.sign_in_page(), headers=page.HEADERS)


@router.post(
    "/ops/session",
    response_class=HTMLResponse,
    responses=problems(401, 403, 413, 503),
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": {"cle": {"type": "string"}}}
                }
            }
        }
    },
)
async def open_session(request: Request, state: State) -> Response:
    """Checks the key (form field `cle`) like a bearer key, then sets a signed, HttpOnly,
    SameSite=Strict cookie (Secure over https) naming the key, never holding it, and sends
    the browser on to the page."""
    _same_site(request)
    # The body is capped (1 MiB) by the middleware: parsing it all is bounded.
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("cle") or [""])[0].strip()
    caller = await state.keys.caller(key) if key else None
    try:
        if caller is None:
            raise Unauthenticated("the API key is malformed, unknown or revoked")
        if caller.role is not Role.OPS:
            raise Forbidden("the ops page is open to the role OPS only")
    except (Unauthenticated, Forbidden) as refusal:
        if _wants_html(request):
            html = page.sign_in_page(error=str(refusal.detail))
            return HTMLResponse(html, status_code=refusal.status, headers=page.HEADERS)
        raise
    sessions = _parts(request).sessions
    session_id = await ops_sessions.open_session(
        state.session_maker, caller.key_id, now=datetime.now(UTC), ttl_s=sessions.ttl_s
    )
    response = HTMLResponse(page.moving_on("/ops", "Session ouverte"), headers=page.HEADERS)
    sessions.open(response, caller.key_id, session_id, https=_https(request))
    return response


@router.post("/ops/session/fin", response_class=HTMLResponse, responses=problems(403))
async def close_session(request: Request, state: State) -> Response:
    """Ends the session server-side (a copy of its cookie is refused too), forgets the
    browser's cookie, and sends it back to the sign-in form."""
    _same_site(request)
    sessions = _parts(request).sessions
    read = sessions.read(request.cookies.get(COOKIE))
    if read is not None:
        await ops_sessions.end_session(state.session_maker, read[1], now=datetime.now(UTC))
    html = page.moving_on("/ops/session", "Session fermée")
    response = HTMLResponse(html, headers=page.HEADERS)
    sessions.close(response, https=_https(request))
    return response


def _same_site(request: Request) -> None:
    """The session's forms refuse a post from another site's page: SameSite keeps the cookie
    from going along, but not another site from signing a browser in with a key of its own
    (login CSRF) or out. A browser names the page's origin on every POST; its host (the
    scheme may differ behind a TLS proxy) must be this one. A client that is no browser
    sends neither header."""
    origin = request.headers.get("origin")
    cross = request.headers.get("sec-fetch-site") == "cross-site"
    if cross or (origin is not None and urlsplit(origin).netloc != request.headers.get("host")):
        raise CrossSiteForm("the ops session's forms are posted from the ops page only")


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _https(request: Request) -> bool:
    return request.url.scheme == "https"
