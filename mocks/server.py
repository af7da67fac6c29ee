"""Serving the mock over real HTTP with uvicorn: in process for tests and the demo, or alone.

The bridge's server stack (`agora_bridge.serving`: uvloop, httptools), always through
`MockProtocol`: it hands each request its connection's transport, which is how the mock drops
a connection without answering (reset and lost-response faults). An ASGI app cannot do that by
itself: uvicorn answers 500 for an app that fails before responding.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from agora_bridge.serving import uvicorn_config
from mocks.app import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, create_app
from mocks.gateway import TRANSPORT_KEY
from mocks.state import MockState

LOOPBACK = "127.0.0.1"


class MockProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, putting the connection's transport in every request's state."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn copies app_state into each request's scope["state"]: one copy per connection.
        self.app_state = {**self.app_state, TRANSPORT_KEY: transport}


@dataclass(frozen=True, slots=True)
class RunningMock:
    url: str  # e.g. http://127.0.0.1:41234, without a trailing slash
    app: FastAPI

    @property
    def state(self) -> MockState:
        """The mock's state, for assertions that HTTP inspection would make long-winded."""
        mock: MockState = self.app.state.mock
        return mock


def server_for(app: FastAPI, *, host: str = LOOPBACK, port: int = 0) -> uvicorn.Server:
    config = uvicorn_config(
        app,
        host=host,
        port=port,
        http=MockProtocol,
        # A fault may hold a request 30 s: shutting down must not wait for it.
        timeout_graceful_shutdown=1,
        # The mock never reads the client's address: no X-Forwarded-For to parse.
        proxy_headers=False,
    )
    return uvicorn.Server(config)


def _bound_url(server: uvicorn.Server, host: str) -> str:
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://{host}:{port}"


def _app(app: FastAPI | None, options: dict[str, Any]) -> FastAPI:
    if app is not None:
        return app
    options.setdefault("client_id", DEMO_CLIENT_ID)
    options.setdefault("client_secret", DEMO_CLIENT_SECRET)
    return create_app(**options)


@asynccontextmanager
async def running_mock(app: FastAPI | None = None, **options: Any) -> AsyncIterator[RunningMock]:
    """The mock on a free loopback port of the running event loop, stopped on exit.

    `options` are `create_app`'s (demo credentials by default), unless `app` is given.
    """
    app = _app(app, options)
    server = server_for(app)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():  # it failed to start: raise its error
            await task
            raise RuntimeError("the mock stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield RunningMock(_bound_url(server, LOOPBACK), app)
    finally:
        server.should_exit = True
        await task


@contextmanager
def mock_in_thread(app: FastAPI | None = None, **options: Any) -> Iterator[RunningMock]:
    """The same in a thread with its own event loop, for synchronous callers (CLI, demo)."""
    app = _app(app, options)
    server = server_for(app)
    thread = threading.Thread(target=server.run, name="agora-mock", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the mock stopped before it started")
            thread.join(0.01)
        yield RunningMock(_bound_url(server, LOOPBACK), app)
    finally:
        server.should_exit = True
        thread.join()


def serve(*, host: str, port: int, **options: Any) -> None:
    """Run the mock in the foreground until interrupted (`agora-bridge mock-agora`)."""
    server_for(create_app(**options), host=host, port=port).run()
