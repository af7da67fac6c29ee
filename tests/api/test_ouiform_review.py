"""Found by an outside review of the orientation API's rewrite: races between the statements
of one request, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agora_bridge.api import app as app_module
from agora_bridge.api import ouiform
from agora_bridge.storage.models import Orientation
from tests.api.builders import bearer, bridge, sessions_of, settings
from tests.api.conftest import migrate
from tests.api.ouiform_builders import BASE, callers, create, creation, move, moved
from tests.conftest import other_backends, throwaway_pg_database


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
            assert await other_backends(url, terminate=True) >= 1
            for _ in range(100):  # pg_terminate_backend only signals: wait for the ends
                if await other_backends(url) == 0:
                    break
                await asyncio.sleep(0.02)
            answers = await asyncio.gather(
                *(client.get(f"{BASE}/{o['id']}", headers=bearer(keys.ops)) for o in created)
            )
            assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
            moved_now = await move(client, keys.of_a, created[0]["id"], "positionnement")
            assert moved_now.status_code == 200, moved_now.text


async def test_a_transition_queued_behind_another_keeps_the_history_in_order(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transition that started first but found another committed before it (it read again,
    or waited for SQLite's write lock) is applied after it: its step, its `maj_le` and its
    change's instant come after the other's, so the history reads in order and a client
    polling with `modifie_depuis` set to the last `maj_le` it saw does not miss it."""
    async with bridge(settings(migrated_url)) as (app, client):
        keys = await callers(sessions_of(app))
        orientation = await create(client, keys.prescripteur)
        real = ouiform._unit_of_work
        armed = True

        async def overtaken(*args: Any, **kwargs: Any) -> Any:
            nonlocal armed
            if armed:  # the abandon has its instant; the positionnement commits first
                armed = False
                await moved(client, keys.of_a, orientation["id"], "positionnement")
            return await real(*args, **kwargs)

        monkeypatch.setattr(ouiform, "_unit_of_work", overtaken)
        answer = await move(client, keys.prescripteur, orientation["id"], "abandon")
        assert answer.status_code == 200, answer.text
        history = answer.json()["historique"]
        assert [step["statut"] for step in history] == ["PRESCRITE", "POSITIONNEE", "ABANDON"]
        instants = [datetime.fromisoformat(step["le"]) for step in history]
        assert instants == sorted(instants), history
        assert answer.json()["maj_le"] == history[-1]["le"]
        since = {"modifie_depuis": history[1]["le"]}
        listed = (await client.get(BASE, params=since, headers=bearer(keys.ops))).json()
        assert [item["statut"] for item in listed["items"]] == ["ABANDON"]


async def test_one_key_with_two_bodies_at_once_creates_one_and_refuses_the_other_body() -> None:
    async with throwaway_pg_database() as url:
        await migrate(url)
        async with bridge(settings(url)) as (app, client):
            keys = await callers(sessions_of(app))
            headers = {**bearer(keys.prescripteur), "Idempotency-Key": "deux-corps"}
            bodies = [creation(), creation(nom="Durand")] * 10
            answers = await asyncio.gather(
                *(client.post(BASE, json=body, headers=headers) for body in bodies)
            )
            created = [a for a in answers if a.status_code == 201]
            assert {a.status_code for a in answers} == {201, 422}, [a.text for a in answers]
            assert len({a.json()["id"] for a in created}) == 1
            won = created[0].json()["candidat"]["nom"]
            for body, answer in zip(bodies, answers, strict=True):
                assert answer.status_code == (201 if body["candidat"]["nom"] == won else 422)
            async with sessions_of(app)() as session:
                count = select(func.count()).select_from(Orientation)
                assert await session.scalar(count) == 1


async def test_later_pages_with_every_filter(migrated_url: str) -> None:
    """The statements built once per role and set of filters bind each filter's value."""
    async with bridge(settings(migrated_url)) as (app, client):
        keys = await callers(sessions_of(app))
        ids = [(await create(client, keys.prescripteur))["id"] for _ in range(5)]
        await moved(client, keys.of_a, ids[0], "positionnement")
        since = (await client.get(f"{BASE}/{ids[0]}", headers=bearer(keys.ops))).json()["cree_le"]
        params: dict[str, str | int] = {"statut": "PRESCRITE", "session_numero": "1330305"}
        params |= {"modifie_depuis": since, "limit": 2}
        seen: list[str] = []
        for key in (keys.of_a, keys.prescripteur, keys.ops):
            seen, cursor = [], None
            while True:
                page = await client.get(
                    BASE,
                    params=params | ({"cursor": cursor} if cursor else {}),
                    headers=bearer(key),
                )
                assert page.status_code == 200, page.text
                seen += [item["id"] for item in page.json()["items"]]
                if (cursor := page.json()["next_cursor"]) is None:
                    break
            assert seen == ids[:0:-1]
        other = await client.get(BASE, params=params, headers=bearer(keys.of_b))
        assert other.json()["items"] == []
