"""Typed builders for the API tests: settings, a running app with its client, callers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import NullPool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from agora_bridge.api import create_app
from agora_bridge.api.problems import PROBLEM_JSON
from agora_bridge.settings import (
    DEMO_AGORA_CLIENT_ID,
    DEMO_AGORA_CLIENT_SECRET,
    AgoraSettings,
    ApiSettings,
    Settings,
)
from agora_bridge.storage.callers import (
    NewOrganisation,
    Role,
    StructureType,
    add_organisation,
    create_key,
)
from agora_bridge.storage.db import async_database_url
from tests.builders import SIRET
from tests.conftest import PG_URL

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
# Nothing listens there: the tests that need AGORA start the mock and say so.
NO_AGORA = "http://127.0.0.1:9/agora/v2"


def settings(
    database_url: str,
    *,
    agora_url: str = NO_AGORA,
    agora_secret: str = DEMO_AGORA_CLIENT_SECRET,
    **api: Any,
) -> Settings:
    return Settings(
        mode="test",
        database_url=database_url,
        agora=AgoraSettings(
            base_url=agora_url,
            client_id=DEMO_AGORA_CLIENT_ID,
            client_secret=agora_secret,
            retry_attempts=1,
            timeout_s=2,
        ),
        api=ApiSettings(**api),
    )


def asgi_client(app: FastAPI) -> httpx.AsyncClient:
    # raise_app_exceptions=False: a 500 is an answer to check, as a real server sends it.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://bridge.test")


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app's lifespan entered (as uvicorn does) and a client on it."""
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        yield client


@asynccontextmanager
async def bridge(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with running(app) as client:
        yield app, client


def sessions_of(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = app.state.bridge.session_maker
    return sessions


def organisation(role: Role) -> NewOrganisation:
    """An organisation of `role` with exactly the identifiers that role carries."""
    if role is Role.ORGANISME:
        return NewOrganisation("Organisme de formation", role, siret=SIRET)
    if role is Role.PRESCRIPTEUR:
        return NewOrganisation(
            "Mission locale", role, structure_code="ML-44", structure_type=StructureType.AUTRE
        )
    return NewOrganisation(role.value.title(), role)


async def key_for(sessions: async_sessionmaker[AsyncSession], role: Role) -> str:
    """A fresh organisation of `role` and a key of it."""
    async with sessions() as session, session.begin():
        organisation_id = await add_organisation(session, organisation(role), now=NOW)
        return await create_key(session, organisation_id, now=NOW)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def json_array(items: Iterable[dict[str, Any]]) -> bytes:
    return json.dumps(list(items)).encode()


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """An RFC 9457 problem with the bridge's extensions, and the request id echoed."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:agora-bridge:problem:")
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["code"], str)
    assert body["code"].isupper()
    assert body["request_id"] == response.headers["x-request-id"]
    if code is not None:
        assert body["code"] == code
    return body


async def drop_database(engine: AsyncEngine, url: str) -> None:
    """Drop a PostgreSQL database under the app using it: what a lost server looks like."""
    await engine.dispose()
    admin = create_async_engine(
        async_database_url(PG_URL), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)'))
    await admin.dispose()
