"""Following the return feed over HTTP while writers run, and the oracle of what it must say
of a dossier the sync delivered (shared by the feed's tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from agora_bridge.storage.callers import Role
from tests.api.builders import bearer, bridge, key_for, sessions_of, settings
from tests.delivery.harness import Bridge, historique

STATUT_AFTER = {
    "CREATION": "VALIDE",
    "ENTREE": "ENTRE",
    "SORTIE": "SORTI",
    "SOLDE": "SOLDE",
    "ANNULATION": "ANNULE",
}
STATE_EVENTS = ("ID_AGORA_ATTRIBUE", "ETAT_ACQUITTE")


@dataclass
class Follower:
    """Reads the feed in small pages, with the cursor, until told the writers are done and a
    page comes back empty."""

    client: httpx.AsyncClient
    key: str
    items: list[dict[str, Any]] = field(default_factory=list)
    writers_done: asyncio.Event = field(default_factory=asyncio.Event)

    async def follow(self) -> None:
        cursor = ""
        while True:
            done = self.writers_done.is_set()
            answer = await self.client.get(
                "/region/v1/retours",
                params={"cursor": cursor, "limit": 7},
                headers=bearer(self.key),
            )
            assert answer.status_code == 200, answer.text
            page = answer.json()
            self.items += page["items"]
            cursor = page["next_cursor"]
            if done and not page["items"]:
                return
            await asyncio.sleep(0.01)


@asynccontextmanager
async def following(database_url: str) -> AsyncIterator[Follower]:
    async with bridge(settings(database_url)) as (app, client):
        key = await key_for(sessions_of(app), Role.REGION_SI)
        follower = Follower(client, key)
        task = asyncio.create_task(follower.follow())
        try:
            yield follower
        finally:
            follower.writers_done.set()
            await asyncio.wait_for(task, 30)


async def sync_while(bridge_: Bridge, engines: int, work: Awaitable[Any]) -> None:
    """Run `engines` engines while `work` runs, then until nothing is pending."""
    stop = asyncio.Event()
    running = [
        asyncio.create_task(
            bridge_.engine(concurrency=8, retry_base_s=0.02, retry_cap_s=0.2).run_forever(stop)
        )
        for _ in range(engines)
    ]
    try:
        await work
        for engine in bridge_.engines:
            engine.wake()
        async with asyncio.timeout(60):
            while await bridge_.pending():
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.gather(*running)


def assert_applied_steps_reported(
    events: list[dict[str, Any]], on_agora: dict[str, Any], held_why: str | None
) -> None:
    """One state event per step AGORA applied, in its order, with the statut it led to; then
    the engine's hold, if any, once."""
    statuts: list[str | None] = []
    for step in historique(on_agora):
        statuts.append(STATUT_AFTER.get(step, statuts[-1] if statuts else None))
    state = [e for e in events if e["evenement"] in STATE_EVENTS]
    assert [e["statut"] for e in state] == statuts, (on_agora["reference_financeur"], events)
    assert [e["evenement"] for e in state].count("ID_AGORA_ATTRIBUE") == 1
    assert state[0]["evenement"] == "ID_AGORA_ATTRIBUE"
    assert {e["id_agora"] for e in state} == {on_agora["id_agora"]}
    versions = [e["version"] for e in state]
    assert versions == sorted(versions)  # never a step of an older snapshot after a newer one
    others = [(e["evenement"], e["code"]) for e in events if e["evenement"] not in STATE_EVENTS]
    assert others == ([("RETENU", held_why)] if held_why else [])
    if held_why:
        assert events[-1]["evenement"] == "RETENU"
