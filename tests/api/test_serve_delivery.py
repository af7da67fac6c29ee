"""`serve`'s app: the sync engine runs in its lifespan, and an ingest wakes it at once."""

from __future__ import annotations

import asyncio
import json

import httpx
from sqlalchemy import select

from agora_bridge.api import create_app
from agora_bridge.cli.serve import DELIVERY_POOL_SIZE, delivery
from agora_bridge.settings import SyncSettings
from agora_bridge.storage.callers import Role
from agora_bridge.storage.db import make_engine
from agora_bridge.storage.models import Livraison
from mocks.server import running_mock
from tests.api.builders import bearer, json_array, key_for, running, sessions_of, settings
from tests.builders import snapshot_dict

ROUTE = "/region/v1/dossiers"


async def _on_agora(mock_url: str) -> dict[str, str]:
    async with httpx.AsyncClient() as client:
        lines = (await client.get(f"{mock_url}/__mock__/dossiers")).text.splitlines()
    return {d["reference_financeur"]: d["statut"] for d in map(json.loads, lines)}


async def test_an_ingest_is_delivered_long_before_the_tick(migrated_url: str) -> None:
    async with running_mock() as mock:
        config = settings(migrated_url, agora_url=f"{mock.url}/agora/v2")
        config.sync = SyncSettings(interval_s=3600)  # only the wake can deliver in time
        app = create_app(config, background=[delivery])
        async with running(app) as client:
            key = await key_for(sessions_of(app), Role.REGION_SI)
            body = json_array([snapshot_dict("ENTRE", id_dossier="PDL-1")])
            headers = {"Content-Type": "application/json"} | bearer(key)
            answer = await client.post(ROUTE, content=body, headers=headers)
            assert answer.status_code == 202, answer.text
            async with asyncio.timeout(15):
                while (await _on_agora(mock.url)).get("PDL-1") != "ENTRE":
                    await asyncio.sleep(0.05)
            # Its passes queue for connections of their own, never for the API's.
            state = app.state.bridge
            own = state.delivery._sessions.kw["bind"]
            assert own is not state.engine
            assert own.url == state.engine.url
            if own.dialect.name == "postgresql":
                assert own.sync_engine.pool.size() == DELIVERY_POOL_SIZE
    # The lifespan stopped the engine cleanly: its work item closed, no claim left behind.
    assert await _work_items(migrated_url) == [("PDL-1", "A_JOUR", None)]


async def _work_items(url: str) -> list[tuple[str, str, str | None]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(Livraison.id_dossier, Livraison.etat, Livraison.lease_owner)
            )
            return [(row.id_dossier, row.etat, row.lease_owner) for row in rows]
    finally:
        await engine.dispose()
