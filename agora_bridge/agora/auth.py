"""How the client proves who it is to AGORA: a pluggable token provider, a client certificate.

The model of AGORA uses an OAuth2 client-credentials token; the real AGORA uses Interops-A (a
signed SAML assertion over mutual TLS). Both are a `TokenProvider`: the client asks it for a
bearer token before each request and tells it when AGORA refused one.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx
import structlog
from pydantic import SecretStr, ValidationError

from agora_bridge.agora.errors import AgoraPermanentError, error_from_response
from agora_bridge.agora.schemas import Erreur, Jeton, from_agora
from agora_bridge.settings import AgoraSettings, ConfigurationError

TOKEN_ROUTE = "POST /oauth/token"  # noqa: S105 (a route, not a secret)
# Refresh this long before expiry so that a token never expires in flight...
_MIN_MARGIN_S = 30.0
_MARGIN_SHARE = 0.10
# ...but never so early that a short-lived token is refetched on every call.
_MAX_MARGIN_SHARE = 0.5

log = structlog.stdlib.get_logger(__name__)


class TokenProvider(Protocol):
    """Gives the bearer token of AGORA calls.

    `token` may raise `AgoraError`, or `httpx.TransportError` which the client maps to
    `AgoraTransientError` like its own calls. It is called before every request, so it must
    answer from a cache; concurrent callers must not cause concurrent fetches.
    """

    async def token(self, *, client: httpx.AsyncClient) -> str: ...

    def invalidate(self, rejected: str | None = None) -> None:
        """Forget `rejected` (AGORA answered 401 to it), or any token when None."""
        ...


@dataclass(frozen=True, slots=True)
class _Cached:
    value: str
    refresh_at: float  # on the provider's clock


class ClientCredentialsProvider:
    """OAuth2 client credentials (`agora-v2.md`, Authentication), cached until near expiry."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._cached: _Cached | None = None
        self._lock = asyncio.Lock()

    async def token(self, *, client: httpx.AsyncClient) -> str:
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        async with self._lock:
            # Another caller may have fetched it while this one waited. The check reads
            # `_cached`, the very attribute `_fetch`'s result is stored in.
            fresh = self._fresh()
            if fresh is not None:
                return fresh
            self._cached = await self._fetch(client)
            return self._cached.value

    def invalidate(self, rejected: str | None = None) -> None:
        # Only the token AGORA refused: a caller late with its 401 must not throw away the
        # new token another caller has just fetched.
        if rejected is None or (self._cached is not None and self._cached.value == rejected):
            self._cached = None

    def _fresh(self) -> str | None:
        cached = self._cached
        if cached is None or self._clock() >= cached.refresh_at:
            return None
        return cached.value

    async def _fetch(self, client: httpx.AsyncClient) -> _Cached:
        asked_at = self._clock()  # before sending: the lifetime runs from AGORA's clock
        request_id = str(uuid.uuid4())
        response = await client.post(
            self._token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret.get_secret_value(),
            },
            headers={"X-Request-Id": request_id, "Accept": "application/json"},
        )
        jeton = _jeton(response, request_id)
        log.info("agora.token.obtained", request_id=request_id, expires_in=jeton.expires_in)
        return _Cached(jeton.access_token, asked_at + jeton.expires_in - _margin(jeton))


def _margin(jeton: Jeton) -> float:
    share = max(_MIN_MARGIN_S, _MARGIN_SHARE * jeton.expires_in)
    return min(share, _MAX_MARGIN_SHARE * jeton.expires_in)


def _jeton(response: httpx.Response, request_id: str) -> Jeton:
    if not response.is_success:
        log.warning("agora.token.failed", request_id=request_id, status=response.status_code)
        raise error_from_response(
            response.status_code,
            response.headers,
            response.content,
            request_id=request_id,
            route=TOKEN_ROUTE,
        )
    try:
        return from_agora(Jeton, response.content)
    except ValidationError:
        # The token endpoint answered, but not with a token: no retry will fix that.
        raise AgoraPermanentError(
            status=response.status_code,
            code="REPONSE_INVALIDE",
            erreurs=[Erreur(champ="access_token", code="REPONSE_INVALIDE")],
            body={},
            request_id=request_id,
            route=TOKEN_ROUTE,
        ) from None


def tls_context(settings: AgoraSettings) -> ssl.SSLContext | None:
    """The TLS context for a client certificate (mutual TLS) or a private CA; None when
    neither is configured (httpx's default verification)."""
    if settings.key_file and not settings.cert_file:
        raise ConfigurationError("AGORA_BRIDGE_AGORA__KEY_FILE is set without __CERT_FILE")
    if not settings.cert_file and not settings.ca_file:
        return None
    try:
        context = ssl.create_default_context(cafile=settings.ca_file)
        if settings.cert_file:
            context.load_cert_chain(settings.cert_file, settings.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            "AGORA_BRIDGE_AGORA__CERT_FILE, __KEY_FILE or __CA_FILE cannot be loaded"
            f" ({type(exc).__name__})"
        ) from exc
    return context
