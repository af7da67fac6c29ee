"""httpx's interface over aiohttp's connection pool and C HTTP parser: the client's default
transport.

Why: on the 2-core machine, httpx's own transport (httpcore and h11, pure Python, plus a
check of every idle connection before each request) cost about 1 ms of CPU a call, four times
what aiohttp's does for the same exchange (`bench/floor.py`), and it was most of the sync
engine's CPU. The client keeps httpx's models, so an injected transport (the tests' faults,
respx) works as before.

What the engine relies on is kept: aiohttp's failures become the httpx errors that tell a
request that never left (`ConnectError`, `ConnectTimeout`) from one AGORA may have applied
(`ReadTimeout`, `RemoteProtocolError`, `ReadError`: the engine reads the dossier back).
"""

from __future__ import annotations

import io
import ssl
from collections.abc import Mapping, Sequence

import aiohttp
import httpx

# Set by aiohttp from the body and the URL, or hop-by-hop: never copied from httpx's request.
LEFT_TO_AIOHTTP = frozenset({"host", "content-length", "transfer-encoding", "connection"})
# httpx's request already carries them: aiohttp must not add its own.
_NOT_ADDED = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
_KEEPALIVE_S = 5.0  # httpx's default
_LARGE_BODY = 2**20  # aiohttp's threshold for a "large" bytes body


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, verify: ssl.SSLContext | bool = True, max_connections: int = 100) -> None:
        self._verify = verify
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the running event loop.
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                ssl=self._verify,
                keepalive_timeout=_KEEPALIVE_S,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, skip_auto_headers=_NOT_ADDED
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = [
            (name, value)
            for name, value in request.headers.multi_items()
            if name.lower() not in LEFT_TO_AIOHTTP
        ]
        limits = request.extensions.get("timeout", {})
        return await self.exchange(
            request.method,
            str(request.url),
            headers,
            request.content,
            timeout_of(limits),
            request=request,
        )

    async def exchange(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        content: bytes,
        timeout: aiohttp.ClientTimeout,
        *,
        request: httpx.Request | None = None,
    ) -> httpx.Response:
        """The exchange without an `httpx.Request` to build (the client's own calls: building
        one was ~8 % of the sync engine's CPU, py-spy). `headers` must leave out
        `LEFT_TO_AIOHTTP`'s."""
        try:
            async with self._open().request(
                method,
                url,
                headers=headers,
                data=_body(content),
                allow_redirects=False,
                timeout=timeout,
            ) as answer:
                content = await answer.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise _as_httpx(error, request) from error
        # Still encoded (auto_decompress is off): httpx decodes it by its Content-Encoding.
        return httpx.Response(
            answer.status, headers=list(answer.raw_headers), content=content, request=request
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _body(content: bytes) -> bytes | io.BytesIO | None:
    """Over 1 MiB (a lot), a file-like body: aiohttp sends it in chunks instead of warning
    that one large write might hold the event loop."""
    if not content:
        return None
    return io.BytesIO(content) if len(content) > _LARGE_BODY else content


def timeout_of(limits: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
    """httpx's timeouts (`Timeout.as_dict()`, a request's `timeout` extension) as aiohttp's:
    waiting for a connection (pool and connect), each read, and the whole exchange. aiohttp
    has no write timeout (its read timer starts once the body is sent): a peer that stops
    reading a 16 MiB lot would block the call for ever, so the exchange is bounded by the sum
    of httpx's four limits."""
    connect, pool = limits.get("connect"), limits.get("pool")
    waiting = None if connect is None or pool is None else connect + pool
    parts = [connect, pool, limits.get("write"), limits.get("read")]
    known = [part for part in parts if part is not None]
    total = sum(known) if len(known) == len(parts) else None
    return aiohttp.ClientTimeout(
        total=total, connect=waiting, sock_connect=connect, sock_read=limits.get("read")
    )


def _as_httpx(error: BaseException, request: httpx.Request | None) -> httpx.TransportError:
    """The httpx error saying whether the request may have reached AGORA (order matters:
    aiohttp's connection errors are OS errors too)."""
    message = type(error).__name__
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)  # no connection: never sent
    if isinstance(error, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)
    if isinstance(error, TimeoutError):  # a read timed out: it may have been applied
        return httpx.ReadTimeout(message, request=request)
    if isinstance(error, aiohttp.ClientOSError):
        return httpx.ReadError(message, request=request)
    return httpx.RemoteProtocolError(message, request=request)
