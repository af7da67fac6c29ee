"""A mock AGORA in process, and a small client whose every answer is checked against contracts/.

async with agora_mock(lot_delay_s=0.05) as agora:
    id_agora = await agora.create(creation("REF-1"))
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from mocks.app import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, create_app
from mocks.headers import NDJSON
from mocks.state import MockState
from tests.contracts.validate import find_operation, validate_response
from tests.mocks.builders import NOW, PATH_TO, STEP_BODIES

TOKEN_FORM = {
    "grant_type": "client_credentials",
    "client_id": DEMO_CLIENT_ID,
    "client_secret": DEMO_CLIENT_SECRET,
}


@dataclass
class FakeClock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def check_contract(response: httpx.Response) -> None:
    """An httpx response hook: every answer of a contract route must match the contract."""
    request = response.request
    if find_operation(request.method, request.url.path) is not None:
        await response.aread()
        validate_response(response)


@dataclass
class Agora:
    client: httpx.AsyncClient
    app: FastAPI
    clock: FakeClock
    token: str = ""
    request_ids: list[str] = field(default_factory=list)

    @property
    def state(self) -> MockState:
        state: MockState = self.app.state.mock
        return state

    async def authenticate(self) -> None:
        response = await self.client.post("/agora/v2/oauth/token", data=TOKEN_FORM)
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]

    async def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        key: str | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """`/agora/v2` + path, with the token, a fresh X-Request-Id and the key if given.

        Raw `content` goes as the route's media type (NDJSON for `/lots`, else JSON), as
        `json=` does, unless `headers` give a Content-Type.
        """
        request_id = str(uuid.uuid4())
        self.request_ids.append(request_id)
        sent = {"Authorization": f"Bearer {self.token}", "X-Request-Id": request_id}
        if key is not None:
            sent["Idempotency-Key"] = key
        if content is not None:
            sent["Content-Type"] = NDJSON if path == "/lots" else "application/json"
        sent.update(headers or {})
        return await self.client.request(
            method, f"/agora/v2{path}", json=json, content=content, headers=sent
        )

    async def create(self, body: dict[str, Any], key: str | None = None) -> str:
        response = await self.call("POST", "/dossiers", body, key=key or str(uuid.uuid4()))
        assert response.status_code == 201, response.text
        id_agora: str = response.json()["id_agora"]
        return id_agora

    async def dossier_in(self, statut: str, body: dict[str, Any]) -> str:
        """A dossier created then moved to `statut` through the synchronous flows."""
        id_agora = await self.create(body)
        for step in PATH_TO[statut]:
            response = await self.call("POST", f"/dossiers/{id_agora}/{step}", STEP_BODIES[step])
            assert response.status_code == 200, response.text
        return id_agora

    async def get(self, id_agora: str) -> dict[str, Any]:
        response = await self.call("GET", f"/dossiers/{id_agora}")
        assert response.status_code == 200, response.text
        dossier: dict[str, Any] = response.json()
        return dossier

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = (await self.client.get("/__mock__/stats")).json()
        return stats

    async def faults(self, config: dict[str, Any]) -> None:
        response = await self.client.put("/__mock__/faults", json=config)
        assert response.status_code == 200, response.text


def asgi_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://agora.test",
        event_hooks={"response": [check_contract]},
    )


@asynccontextmanager
async def agora_mock(**options: Any) -> AsyncIterator[Agora]:
    """A fresh mock (demo credentials, a fake clock at NOW) and an authenticated client."""
    clock = options.pop("clock", FakeClock())
    options.setdefault("lot_delay_s", 0.02)
    app = create_app(
        client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET, clock=clock, **options
    )
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        agora = Agora(client, app, clock)
        await agora.authenticate()
        yield agora
