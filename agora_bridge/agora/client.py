"""The one typed client of AGORA V2 (`agora-v2.md`).

One `httpx.AsyncClient` per `AgoraClient`, explicit timeouts, an injectable transport (respx in
tests, the mock over loopback), optional mutual TLS, a pluggable token provider.

What it retries itself is only what AGORA cannot apply twice: reads, the token, and writes
that carry an `Idempotency-Key` (creation, lot deposit). Transitions and rectifications are
retried only when AGORA certainly never processed them (no connection, or `429`); any other
failure is raised, and the sync engine decides (it looks the dossier up before re-sending).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

import httpx
import structlog
from pydantic import BaseModel, ValidationError

from agora_bridge.agora.auth import (
    TOKEN_ROUTE,
    ClientCredentialsProvider,
    TokenProvider,
    tls_context,
)
from agora_bridge.agora.errors import (
    AgoraPermanentError,
    AgoraTransientError,
    error_from_response,
)
from agora_bridge.agora.retry import Clock, RateLimit, RetryPolicy, Sleep
from agora_bridge.agora.schemas import (
    Annulation,
    Creation,
    CreationAcceptee,
    Dossier,
    Entree,
    Erreur,
    LigneCompteRendu,
    LigneLot,
    Lot,
    Recherche,
    Rectification,
    ResultatRecherche,
    ResultatsRecherche,
    Route,
    Solde,
    Sortie,
    TransitionAppliquee,
    from_agora,
    ndjson,
)
from agora_bridge.agora.transport import LEFT_TO_AIOHTTP, AiohttpTransport, timeout_of
from agora_bridge.settings import AgoraSettings

_Modele = TypeVar("_Modele", bound=BaseModel)

JSON = "application/json"
NDJSON = "application/x-ndjson"
_ACCEPT_JSON = "application/json, application/problem+json"
_ACCEPT_NDJSON = "application/x-ndjson, application/problem+json"
# Ids go into paths: nothing that could change the path ("/", "..", "?").
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The request never left: no connection, or no connection free in the pool.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
)

log = structlog.stdlib.get_logger(__name__)


@dataclass(slots=True)
class _Call:
    """One logical call: its request id and idempotency key hold across its retries."""

    method: str
    route: str  # the template, for logs: never an id
    path: str
    request_id: str
    blind_retry: bool
    body: bytes | None = None
    content_type: str = JSON
    accept: str = _ACCEPT_JSON
    idempotency_key: str | None = None
    ambiguous_seen: bool = False


class AgoraClient:
    """AGORA V2's calls as keyword-only methods returning pydantic models.

    Failures raise `AgoraTransientError` or `AgoraPermanentError` (see `errors`). Every
    method takes an optional `request_id` (sent as `X-Request-Id`, the same on every retry);
    one is generated otherwise.
    """

    def __init__(
        self,
        settings: AgoraSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        auth: TokenProvider | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self._policy = RetryPolicy.from_settings(settings)
        self._sleep = sleep
        self._clock = clock
        self._auth = auth or ClientCredentialsProvider(
            token_url="/oauth/token",  # noqa: S106 (relative to base_url, not a secret)
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            clock=clock,
        )
        self._limit = RateLimit(settings.max_rps, clock, sleep) if settings.max_rps > 0 else None
        verify = tls_context(settings) or True
        # aiohttp underneath by default: a quarter of httpcore's CPU a call (`transport`).
        self._transport = transport or AiohttpTransport(verify=verify)
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            timeout=httpx.Timeout(settings.timeout_s),
            transport=self._transport,
            verify=verify,
            headers={"User-Agent": "agora-bridge"},
        )
        self._exchange = _Exchange(self._http, self._transport)

    async def __aenter__(self) -> AgoraClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- Synchronous flows ---------------------------------------------------------------

    async def rechercher(
        self,
        *,
        reference_financeur: str | None = None,
        nir: str | None = None,
        numero_session: str | None = None,
        request_id: str | None = None,
    ) -> list[ResultatRecherche]:
        """Flow 1: by `reference_financeur`, or by `nir` and `numero_session`."""
        recherche = _recherche(reference_financeur, nir, numero_session)
        call = _json_call(Recherche.ROUTE, recherche, request_id, blind_retry=True)
        return (await self._parsed(call, ResultatsRecherche)).resultats

    async def creer(
        self, *, creation: Creation, idempotency_key: str, request_id: str | None = None
    ) -> CreationAcceptee:
        """Flow 2. `409 DOSSIER_EXISTANT` raises with the existing dossier's `id_agora`."""
        call = _json_call(Creation.ROUTE, creation, request_id, blind_retry=True)
        call.idempotency_key = _required_key(idempotency_key)
        return await self._parsed(call, CreationAcceptee)

    async def entrer(
        self, *, id_agora: str, entree: Entree, request_id: str | None = None
    ) -> TransitionAppliquee:
        return await self._transition(id_agora, Entree.ROUTE, entree, request_id)

    async def sortir(
        self, *, id_agora: str, sortie: Sortie, request_id: str | None = None
    ) -> TransitionAppliquee:
        return await self._transition(id_agora, Sortie.ROUTE, sortie, request_id)

    async def solder(
        self, *, id_agora: str, solde: Solde, request_id: str | None = None
    ) -> TransitionAppliquee:
        return await self._transition(id_agora, Solde.ROUTE, solde, request_id)

    async def annuler(
        self, *, id_agora: str, annulation: Annulation, request_id: str | None = None
    ) -> TransitionAppliquee:
        return await self._transition(id_agora, Annulation.ROUTE, annulation, request_id)

    async def rectifier(
        self, *, id_agora: str, rectification: Rectification, request_id: str | None = None
    ) -> Dossier:
        """Flow 7 (`PATCH`): no idempotency key, so retried only if AGORA never saw it."""
        call = _json_call(Rectification.ROUTE, rectification, request_id, blind_retry=False)
        call.path = _path(call.route, id_agora)
        return await self._parsed(call, Dossier)

    async def lire(self, *, id_agora: str, request_id: str | None = None) -> Dossier:
        """Flow 8: the dossier as AGORA holds it."""
        call = _read_call("/dossiers/{id_agora}", id_agora, request_id)
        return await self._parsed(call, Dossier)

    # ---- Lots ----------------------------------------------------------------------------

    async def deposer_lot(
        self,
        *,
        lignes: Sequence[LigneLot] | bytes,
        idempotency_key: str,
        request_id: str | None = None,
    ) -> Lot:
        """`POST /lots`; `lignes` may come already serialised as NDJSON bytes."""
        method, route = LigneLot.ROUTE
        call = _Call(method, route, route, request_id or _new_id(), blind_retry=True)
        call.body = lignes if isinstance(lignes, bytes) else ndjson(lignes)
        call.content_type = NDJSON
        call.idempotency_key = _required_key(idempotency_key)
        return await self._parsed(call, Lot)

    async def lire_lot(self, *, id_lot: str, request_id: str | None = None) -> Lot:
        return await self._parsed(_read_call("/lots/{id_lot}", id_lot, request_id), Lot)

    async def compte_rendu(
        self, *, id_lot: str, request_id: str | None = None
    ) -> list[LigneCompteRendu]:
        """One result per line of the lot; `409 LOT_NON_TRAITE` until it is processed."""
        call = _read_call("/lots/{id_lot}/compte-rendu", id_lot, request_id)
        call.accept = _ACCEPT_NDJSON
        response = await self._request(call)
        try:
            return [
                from_agora(LigneCompteRendu, line)
                for line in response.content.splitlines()
                if line.strip()
            ]
        except ValidationError as exc:
            raise _unreadable(call, response, exc) from None

    async def verifier_authentification(self) -> None:
        """Obtain a token (the readiness check), raising like any call when that fails."""
        await self._bearer()

    # ---- The machinery -------------------------------------------------------------------

    async def _transition(
        self, id_agora: str, route: Route, body: BaseModel, request_id: str | None
    ) -> TransitionAppliquee:
        call = _json_call(route, body, request_id, blind_retry=False)
        call.path = _path(call.route, id_agora)
        return await self._parsed(call, TransitionAppliquee)

    async def _parsed(self, call: _Call, model: type[_Modele]) -> _Modele:
        response = await self._request(call)
        try:
            return from_agora(model, response.content)
        except ValidationError as exc:
            raise _unreadable(call, response, exc) from None

    async def _request(self, call: _Call) -> httpx.Response:
        try:
            return await self._attempt(call)
        except AgoraTransientError as exc:
            if self._policy.attempts <= 1:
                raise
            first = exc
        try:
            return await self._retried(call, first)
        except AgoraTransientError as exc:
            # The last attempt may be a clean refusal while an earlier one was applied.
            exc.ambiguous = exc.ambiguous or call.ambiguous_seen
            raise

    async def _retried(self, call: _Call, first: AgoraTransientError) -> httpx.Response:
        """The retry loop, entered only once the first attempt failed (most calls succeed:
        building tenacity's loop for each cost more than its use). Its first turn replays
        that failure instead of sending again, so the loop decides exactly as if it had made
        the attempt: retry or not, the delay, the budget."""
        fields = {"method": call.method, "route": call.route, "request_id": call.request_id}
        retrying = self._policy.retrying(
            blind=call.blind_retry, sleep=self._sleep, log_fields=fields
        )
        pending: list[AgoraTransientError] = [first]

        async def attempt(call: _Call) -> httpx.Response:
            if pending:
                raise pending.pop()
            return await self._attempt(call)

        response: httpx.Response = await retrying(attempt, call)
        return response

    async def _attempt(self, call: _Call) -> httpx.Response:
        try:
            token = await self._bearer()
            response = await self._send(call, token)
            if response.status_code == httpx.codes.UNAUTHORIZED:
                # AGORA refused the token (expired early, revoked): a new one, once.
                self._auth.invalidate(token)
                response = await self._send(call, await self._bearer())
        except AgoraTransientError as exc:
            call.ambiguous_seen = call.ambiguous_seen or exc.ambiguous
            raise
        if not response.is_success:
            raise error_from_response(
                response.status_code,
                response.headers,
                response.content,
                request_id=call.request_id,
                route=call.route,
            )
        return response

    async def _bearer(self) -> str:
        try:
            return await self._auth.token(client=self._http)
        except httpx.RequestError as exc:
            raise _transport_error(exc, TOKEN_ROUTE, None, sent=False) from exc
        except AgoraTransientError as exc:
            # The token failed, so the call itself was never sent.
            exc.sent, exc.ambiguous = False, False
            raise

    async def _send(self, call: _Call, token: str) -> httpx.Response:
        if self._limit is not None:
            await self._limit.acquire()
        started = self._clock()
        try:
            response = await self._exchange.send(call, token)
        except httpx.RequestError as exc:
            error = _transport_error(exc, call.route, call.request_id)
            _log_exchange(call, started, self._clock(), error=type(exc).__name__)
            raise error from exc
        _log_exchange(call, started, self._clock(), status=response.status_code)
        return response


_PER_CALL = frozenset(
    {"authorization", "x-request-id", "accept", "content-type", "idempotency-key"}
)


class _Exchange:
    """One request and its answer, straight through the transport: what `AsyncClient.send`
    adds on top (auth and redirect flows, cookie jar, event hooks) is not used here, and it was
    about 7 % of the sync engine's CPU (py-spy). The client's base URL, default headers and
    timeouts are applied as it would. (With a transport of its own, an `AsyncClient` takes no
    proxy from the environment either: nothing is bypassed.)"""

    def __init__(self, http: httpx.AsyncClient, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport
        self._base = str(http.base_url).rstrip("/")
        # The client's defaults (User-Agent, Accept-Encoding...) but those each call sets.
        self._defaults = {k: v for k, v in http.headers.items() if k.lower() not in _PER_CALL}
        self._timeout = {"timeout": http.timeout.as_dict()}
        # The bridge's own transport is called directly, without an `httpx.Request`.
        self._direct = transport if isinstance(transport, AiohttpTransport) else None
        self._direct_defaults = {
            k: v for k, v in self._defaults.items() if k.lower() not in LEFT_TO_AIOHTTP
        }
        self._direct_timeout = timeout_of(self._timeout["timeout"])

    async def send(self, call: _Call, token: str) -> httpx.Response:
        if self._direct is not None:
            headers = self._direct_defaults | _headers(call, token)
            url = self._base + call.path
            body = call.body or b""
            return await self._direct.exchange(
                call.method, url, list(headers.items()), body, self._direct_timeout
            )
        request = httpx.Request(
            call.method,
            self._base + call.path,
            content=call.body,
            headers=self._defaults | _headers(call, token),
            extensions=self._timeout,
        )
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response


# ---- Building calls -----------------------------------------------------------------------


def _new_id() -> str:
    return str(uuid.uuid4())


def _json_call(
    route: Route, body: BaseModel, request_id: str | None, *, blind_retry: bool
) -> _Call:
    method, template = route
    call = _Call(method, template, template, request_id or _new_id(), blind_retry=blind_retry)
    call.body = body.model_dump_json().encode()
    return call


def _read_call(route: str, ident: str, request_id: str | None) -> _Call:
    return _Call("GET", route, _path(route, ident), request_id or _new_id(), blind_retry=True)


def _path(route: str, ident: str) -> str:
    if not _ID.fullmatch(ident):
        raise ValueError(f"not an AGORA id: {ident!r}")
    return re.sub(r"\{[a-z_]+\}", ident, route, count=1)


def _required_key(key: str) -> str:
    if not key.strip():
        raise ValueError("an Idempotency-Key is required")
    return key


def _recherche(reference: str | None, nir: str | None, session: str | None) -> Recherche:
    try:
        return Recherche(reference_financeur=reference, nir=nir, numero_session=session)
    except ValidationError:
        # pydantic's message would repeat the NIR.
        raise TypeError("search by reference_financeur, or by nir and numero_session") from None


def _headers(call: _Call, token: str) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Request-Id": call.request_id,
        "Accept": call.accept,
    }
    if call.body is not None:
        headers["Content-Type"] = call.content_type
    if call.idempotency_key is not None:
        headers["Idempotency-Key"] = call.idempotency_key
    return headers


# ---- Failures and logs --------------------------------------------------------------------


def _transport_error(
    exc: httpx.RequestError, route: str, request_id: str | None, *, sent: bool | None = None
) -> AgoraTransientError:
    """No answer. Unless the request never left, AGORA may have applied it: ambiguous."""
    sent = not isinstance(exc, _NOT_SENT) if sent is None else sent
    return AgoraTransientError(
        f"AGORA did not answer {route}: {type(exc).__name__}",
        ambiguous=sent,
        sent=sent,
        request_id=request_id,
        route=route,
    )


def _unreadable(call: _Call, response: httpx.Response, exc: ValidationError) -> AgoraPermanentError:
    """A success whose body is not what the spec says: no retry fixes that (the call may
    have been applied: the engine's search-then-create finds it)."""
    erreurs = [
        Erreur(champ=".".join(map(str, e["loc"])) or None, code=e["type"])
        for e in exc.errors(include_input=False)[:20]
    ]
    return AgoraPermanentError(
        status=response.status_code,
        code="REPONSE_INVALIDE",
        erreurs=erreurs,
        body={},
        raw_body=response.content,
        request_id=call.request_id,
        route=call.route,
    )


def _log_exchange(
    call: _Call, started: float, ended: float, *, status: int | None = None, error: str = ""
) -> None:
    fields = {
        "method": call.method,
        "route": call.route,
        "request_id": call.request_id,
        "duration_ms": round((ended - started) * 1000, 1),
    }
    if error:
        log.warning("agora.request.failed", error=error, **fields)
    elif status is not None and status >= 400:
        log.info("agora.request.failed", status=status, **fields)
    else:
        log.debug("agora.request.sent", status=status, **fields)
