"""What stands in front of every `/agora/v2` route: outage, quota, injected faults, counts;
then the matched route's handler, called directly (`call_handler`).

A pure ASGI middleware rather than FastAPI's `@app.middleware`: it must be able to answer
nothing at all (reset, lost response), which only the connection's transport can do.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mocks.faults import Draw, Fate
from mocks.problems import INDISPONIBLE, QUOTA_DEPASSE, Probleme, dumps, problem_response
from mocks.state import MockState

API_PREFIX = "/agora/v2"
# Put in each request's scope["state"] by `mocks.server`'s protocol: the connection itself.
TRANSPORT_KEY = "agora_mock.transport"
LOST = "perdue"  # the spec's status for a response lost after the operation was applied
CUT = "coupee"  # a connection reset before anything was applied
Handler = Callable[..., Awaitable[Response]]


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


@dataclass(frozen=True, slots=True)
class Matched:
    """Where a request of `/agora/v2` goes."""

    template: str  # "/agora/v2/dossiers/{id_agora}", as the contract writes it; else the path
    handler_scope: Scope | None  # the endpoint and path_params of the route that takes it


class Routes:
    """The `/agora/v2` routes, matched once per request for both the counts and the handler."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._routes = [(_direct(route), _template(route)) for route in routes]
        self._by_method: dict[str, list[tuple[Route, str]]] = {}
        for route, template in self._routes:
            for method in route.methods or ():
                self._by_method.setdefault(method, []).append((route, template))

    def match(self, scope: Scope) -> Matched:
        # The routes taking the method, by their regex alone: Route.matches would also copy
        # the scope's parameters and look for FastAPI's context, on every route it tries.
        for route, template in self._by_method.get(scope["method"], ()):
            found = route.path_regex.match(scope["path"])
            if found is not None:
                return Matched(template, _handler_scope(route, found.groupdict()))
        for route, template in self._routes:
            if route.matches(scope)[0] is Match.PARTIAL:  # the path matches, not the method
                return Matched(template, None)
        return Matched(scope["path"], None)


def _handler_scope(route: Route, params: dict[str, str]) -> Scope:
    convertors = route.param_convertors
    path_params = {name: convertors[name].convert(value) for name, value in params.items()}
    return {"endpoint": route.endpoint, "path_params": path_params}


def _template(route: BaseRoute) -> str:
    # "{id_agora:id_agora}" (a path convertor) reads "{id_agora}", as the contract writes it.
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", str(getattr(route, "path", "")))


def _direct(route: BaseRoute) -> Route:
    """The route, if `call_handler` can call its handler: (request, *path parameters)."""
    if isinstance(route, Route):
        expected = {"request", *route.param_convertors}
        if set(inspect.signature(route.endpoint).parameters) == expected:
            return route
    raise TypeError(f"{getattr(route, 'path', route)}: a handler takes (request, *path)")


async def call_handler(scope: Scope, receive: Receive, send: Send) -> str:
    """Run a matched route's handler as FastAPI's routing would; the answer's status.

    The handlers take the raw `Request` and raise `Probleme` (mocks.app), so FastAPI's
    per-request machinery (exception and exit-stack middleware, router, dependency solving)
    would add nothing but about a third of the mock's CPU a call. Any other exception goes up
    to the app's outer handler, as it would through FastAPI.
    """
    endpoint: Handler = scope["endpoint"]
    try:
        response = await endpoint(Request(scope, receive, send), **scope["path_params"])
    except Probleme as problem:
        response = problem_response(problem)
    await response(scope, receive, send)
    return str(response.status_code)


class Gateway:
    def __init__(self, app: ASGIApp, *, mock: MockState, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.mock = mock
        self.routes = Routes(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        matched = self.routes.match(scope)
        status = await self._handle(scope, receive, send, matched)
        if status is not None:
            self._count(scope, matched.template, status)

    def _count(self, scope: Scope, template: str, status: str) -> None:
        self.mock.stats.requetes[f"{scope['method']} {template} {status}"] += 1

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, matched: Matched
    ) -> str | None:
        """Answer the request; its status for the counts (None once already counted)."""
        refusal = self._refusal()
        if refusal is not None:
            return await answer(send, refusal)
        draw = self.mock.faults.draw()
        if draw.latency_s:
            await asyncio.sleep(draw.latency_s)
        if draw.fate is Fate.LOST:
            await self._forward(scope, receive, _discard, matched)  # applied, answer lost
            await self._drop(scope, receive, matched.template, LOST)
            return None
        if draw.fate is Fate.RESET:
            await self._drop(scope, receive, matched.template, CUT)
            return None
        injected = await self._injected(draw)
        if injected is not None:
            return await answer(send, injected)
        return await self._forward(scope, receive, send, matched)

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

    async def _forward(self, scope: Scope, receive: Receive, send: Send, matched: Matched) -> str:
        if matched.handler_scope is not None:
            scope.update(matched.handler_scope)
            return await call_handler(scope, receive, send)
        # No route takes it: the app's routing answers (404, 405 with every allowed method).
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
