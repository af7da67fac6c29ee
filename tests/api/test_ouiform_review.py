"""Found by an outside review of the orientation API's rewrite: races between the statements
of one request, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import NullPool, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from agora_bridge.api import app as app_module
from agora_bridge.storage.db import async_database_url
from tests.api.builders import bearer, bridge, sessions_of, settings
from tests.api.conftest import migrate
from tests.api.ouiform_builders import BASE, callers, create, move, moved
from tests.api.test_ouiform_database import _drop_connections
from tests.conftest import throwaway_pg_database


async def test_a_page_read_while_an_orientation_below_the_cursor_changes_shows_it_once(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page after the first reads the orientations unchanged since the listing started and
    those changed since: a change committed between two such reads must not show the
    orientation twice (nor skip it)."""
    async with bridge(settings(migrated_url)) as (app, client):
        keys = await callers(sessions_of(app))
        ids = [(await create(client, keys.prescripteur))["id"] for _ in range(4)]
        first = (await client.get(BASE, params={"limit": 1}, headers=bearer(keys.of_a))).json()
        assert [item["id"] for item in first["items"]] == [ids[3]]
        real = AsyncConnection.execute
        armed = True

        async def racing(connection: AsyncConnection, statement: Any, *args: Any, **kw: Any) -> Any:
            nonlocal armed
            result = await real(connection, statement, *args, **kw)
            if armed and "FROM orientation" in str(statement):
                armed = False  # another request commits after the page's first read
                await moved(client, keys.of_a, ids[2], "positionnement")
            return result

        monkeypatch.setattr(AsyncConnection, "execute", racing)
        params = {"limit": 3, "cursor": first["next_cursor"]}
        page = (await client.get(BASE, params=params, headers=bearer(keys.of_a))).json()
        assert not armed
        assert [item["id"] for item in page["items"]] == [ids[2], ids[1], ids[0]]
        assert page["items"][0]["statut"] in ("PRESCRITE", "POSITIONNEE")


async def _backends(url: str) -> int:
    admin = create_async_engine(async_database_url(url), poolclass=NullPool)
    async with admin.connect() as connection:
        count = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    await admin.dispose()
    return int(count or 0)


async def test_a_connection_dropped_while_busy_costs_no_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A PostgreSQL restart (or backends ended by an administrator, a failover) while the API
    is busy: connections used a moment ago are not checked with a round trip before use
    (`API_PING_AFTER_IDLE_S`), yet the next requests, reads and a write, must not fail."""
    monkeypatch.setattr(app_module, "API_PING_AFTER_IDLE_S", 60.0)  # never idle long enough
    async with throwaway_pg_database() as url:
        await migrate(url)
        async with bridge(settings(url)) as (app, client):
            keys = await callers(sessions_of(app))
            created = await asyncio.gather(*(create(client, keys.prescripteur) for _ in range(5)))
            assert await _drop_connections(url) >= 1
            for _ in range(100):  # pg_terminate_backend only signals: wait for the ends
                if await _backends(url) == 0:
                    break
                await asyncio.sleep(0.02)
            answers = await asyncio.gather(
                *(client.get(f"{BASE}/{o['id']}", headers=bearer(keys.ops)) for o in created)
            )
            assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
            moved_now = await move(client, keys.of_a, created[0]["id"], "positionnement")
            assert moved_now.status_code == 200, moved_now.text
