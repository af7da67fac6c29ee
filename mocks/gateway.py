"""What stands in front of every `/agora/v2` route: outage, quota, injected faults, counts.

A pure ASGI middleware rather than FastAPI's `@app.middleware`: it must be able to answer
nothing at all (reset, lost response), which only the connection's transport can do.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mocks.faults import Draw, Fate
from mocks.problems import INDISPONIBLE, QUOTA_DEPASSE, Probleme, dumps
from mocks.state import MockState

API_PREFIX = "/agora/v2"
# Put in each request's scope["state"] by `mocks.server`'s protocol: the connection itself.
TRANSPORT_KEY = "agora_mock.transport"
LOST = "perdue"  # the spec's status for a response lost after the operation was applied
CUT = "coupee"  # a connection reset before anything was applied


class ConnectionDropped(Exception):
    """Raised where no connection can be dropped (an in-process ASGI transport)."""


async def drop_connection(scope: Scope, receive: Receive) -> None:
    """Close the connection without answering, as a network failure would."""
    transport = scope.get("state", {}).get(TRANSPORT_KEY)
    if transport is None:
        raise ConnectionDropped(f"{scope['method']} {scope['path']}: connection dropped")
    transport.abort()
    # Wait until the server has seen the disconnection: an app that returns without a
    # response before that makes uvicorn answer 500 in its place.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1):
            while (await receive())["type"] != "http.disconnect":
                pass


async def answer(send: Send, problem: Probleme) -> str:
    body = dumps(problem.body())
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in problem.headers.items()),
    ]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return str(problem.status)


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The route's path template ("/agora/v2/dossiers/{id_agora}"), else the raw path."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return _template(route, scope)
        if match is Match.PARTIAL and partial is None:  # the path matches, not the method
            partial = route
    return _template(partial, scope)


def _template(route: BaseRoute | None, scope: Scope) -> str:
    # "{id_agora:id_agora}" (a path convertor) reads "{id_agora}", as the contract writes it.
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", str(getattr(route, "path", scope["path"])))


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route takes on this path, for a 405's `Allow` (RFC 9110)."""
    methods: set[str] = set()
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


class Gateway:
    def __init__(self, app: ASGIApp, *, mock: MockState, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.mock = mock
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        template = route_template(self.routes, scope)
        status = await self._handle(scope, receive, send, template)
        if status is not None:
            self._count(scope, template, status)

    def _count(self, scope: Scope, template: str, status: str) -> None:
        self.mock.stats.requetes[f"{scope['method']} {template} {status}"] += 1

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, template: str
    ) -> str | None:
        """Answer the request; its status for the counts (None once already counted)."""
        refusal = self._refusal()
        if refusal is not None:
            return await answer(send, refusal)
        draw = self.mock.faults.draw()
        if draw.latency_s:
            await asyncio.sleep(draw.latency_s)
        if draw.fate is Fate.LOST:
            await self.app(scope, receive, _discard)  # applied, then the answer is lost
            await self._drop(scope, receive, template, LOST)
            return None
        if draw.fate is Fate.RESET:
            await self._drop(scope, receive, template, CUT)
            return None
        injected = await self._injected(draw)
        if injected is not None:
            return await answer(send, injected)
        return await self._forward(scope, receive, send)

    def _refusal(self) -> Probleme | None:
        """An outage or the quota: what refuses a request before anything is drawn."""
        outage_left = self.mock.faults.outage_left_s()
        if outage_left is not None:
            retry = {"Retry-After": str(math.ceil(outage_left))}
            return Probleme(503, INDISPONIBLE, "AGORA en panne", headers=retry)
        try:
            self.mock.limiter.check()
        except Probleme as problem:
            return problem
        return None

    async def _injected(self, draw: Draw) -> Probleme | None:
        """The answer of an injected error, timeout or 429, the operation never applied."""
        config = self.mock.faults.config
        match draw.fate:
            case Fate.ERROR:
                return Probleme(draw.status, INDISPONIBLE, "erreur injectée")
            case Fate.TIMEOUT:
                await asyncio.sleep(config.timeout_s)
                return Probleme(503, INDISPONIBLE, "délai dépassé")
            case Fate.RATE_LIMIT:
                retry = {"Retry-After": str(config.retry_after_s)}
                return Probleme(429, QUOTA_DEPASSE, "quota dépassé", headers=retry)
        return None

    async def _drop(self, scope: Scope, receive: Receive, template: str, status: str) -> None:
        # Counted first: under an in-process transport, dropping raises.
        self._count(scope, template, status)
        await drop_connection(scope, receive)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> str:
        status = "500"

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        await self.app(scope, receive, send_and_note)
        return status


async def _discard(message: Message) -> None:
    """The send of a response that will never leave (lost_response_rate)."""
