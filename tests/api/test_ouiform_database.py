"""The orientation API and its PostgreSQL connections: a connection PostgreSQL dropped (a
restart) costs no request once it has been idle, a request never opens a connection of its
own under load (the pool has no overflow), and a change computed from a stale read is not
written (the transition reads again)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from agora_bridge.api import app as app_module
from agora_bridge.orientation import machine
from agora_bridge.orientation.model import Abandon
from agora_bridge.storage import orientations as store
from tests.api.builders import bearer, bridge, sessions_of, settings
from tests.api.conftest import migrate
from tests.api.ouiform_builders import BASE, BODIES, callers, create, moved
from tests.conftest import other_backends, throwaway_pg_database


async def test_connections_dropped_while_idle_cost_no_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app_module, "API_PING_AFTER_IDLE_S", 0.05)
    async with throwaway_pg_database() as url:
        await migrate(url)
        async with bridge(settings(url)) as (app, client):
            keys = await callers(sessions_of(app))
            created = await asyncio.gather(*(create(client, keys.prescripteur) for _ in range(5)))
            assert await other_backends(url, terminate=True) >= 1
            await asyncio.sleep(0.1)  # idle past the threshold: checked before use
            for orientation in created:
                response = await client.get(f"{BASE}/{orientation['id']}", headers=bearer(keys.ops))
                assert response.status_code == 200, response.text
            assert (await client.get(BASE, headers=bearer(keys.ops))).status_code == 200


async def test_the_pool_has_no_overflow() -> None:
    async with throwaway_pg_database() as url:
        await migrate(url)
        async with bridge(settings(url)) as (app, _client):
            pool = app.state.bridge.engine.sync_engine.pool
            assert pool.size() == app_module.API_POOL_SIZE
            assert pool._max_overflow == 0


async def test_a_change_from_a_stale_read_writes_nothing_but_a_skipped_number() -> None:
    async with throwaway_pg_database() as url:
        await migrate(url)
        async with bridge(settings(url)) as (app, client):
            keys = await callers(sessions_of(app))
            orientation = await create(client, keys.prescripteur)
            state = app.state.bridge
            ops = await state.keys.caller(keys.ops)
            async with state.engine.connect() as connection:
                stale = await store.find(connection, orientation["id"], ops)
            assert stale is not None
            await moved(client, keys.of_a, orientation["id"], "positionnement")
            etat = machine.apply(
                store.etat_of(stale.etat), Abandon.model_validate(BODIES["abandon"]),
                le=datetime.now(UTC), par="ORGANISME",
            )  # fmt: skip
            async with state.engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                assert await store.record(connection, stale, etat, now=datetime.now(UTC)) is None
                high = await connection.scalar(select(store.COMPTEUR.c.valeur))
                changes = (await connection.execute(select(store.CHANGEMENT.c.seq))).all()
            now = (await client.get(f"{BASE}/{orientation['id']}", headers=bearer(keys.ops))).json()
            assert (now["statut"], now["version"]) == ("POSITIONNEE", 2)
            assert [seq for (seq,) in changes] == [1, 2]
            assert high == 3  # the lost write's number, skipped
