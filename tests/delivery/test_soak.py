"""The soak of issue 7, on SQLite and PostgreSQL: hundreds of dossiers, over a thousand
snapshot versions ingested concurrently and out of order (stale re-sends included) while the
engine runs, against a mock that fails ≥ 20 % of calls, loses 5 % of answers after applying
them, answers 5 % with 429, adds latency and goes down for a while.

At the end AGORA holds exactly the newest state of every sendable dossier, each created once,
each history in order with no step twice, nothing pending, every parked dossier parked for a
business reason, and the ledger intact.
"""

from __future__ import annotations

import asyncio
import random
from datetime import date
from typing import Any

from sqlalchemy import select

from agora_bridge.agora.mapping import from_wire
from agora_bridge.agora.schemas import Dossier, from_agora
from agora_bridge.decision.planner import project
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.storage.models import Livraison
from tests.delivery.harness import Bridge, delivery, historique
from tests.delivery.histories import History, deliveries, history

DOSSIERS = 200
REFUSED = 6  # parked by AGORA (DATE_FUTURE)
FAULTS = {
    "seed": 7,
    "error_rate": 0.20,
    "lost_response_rate": 0.05,
    "rate_limit_rate": 0.05,
    "retry_after_s": 1,
    "latency_ms": [0, 3],
    "outage": {"from_s": 1.0, "to_s": 2.0},
}
# The order AGORA's steps may take; rectifications may come between any two.
ORDER = {"CREATION": 0, "ENTREE": 1, "SORTIE": 2, "SOLDE": 3, "ANNULATION": 3}


def in_order(steps: list[str]) -> bool:
    transitions = [s for s in steps if s != "RECTIFICATION"]
    ranks = [ORDER[s] for s in transitions]
    return (
        bool(transitions)
        and transitions[0] == "CREATION"
        and ranks == sorted(ranks)
        and len(set(transitions)) == len(transitions)
    )


async def ingest_concurrently(
    bridge: Bridge, versions: list[Snapshot], refused: list[Snapshot]
) -> None:
    chunks = [versions[i::6] for i in range(6)]
    await asyncio.gather(
        *(bridge.ingest(*chunk) for chunk in chunks),
        bridge.ingest_on(date(2030, 1, 1), *refused),
    )


async def soak(bridge: Bridge, histories: list[History]) -> None:
    rng = random.Random(11)
    sendable = [h for h in histories if not h.refused]
    versions = deliveries(rng, sendable, stale=900)
    refused = [h.newest for h in histories if h.refused]
    await bridge.faults(FAULTS)
    engine = bridge.engine(
        concurrency=16,
        retry_base_s=0.05,
        retry_cap_s=0.5,
        breaker_threshold=8,
        breaker_pause_s=0.2,
        breaker_max_pause_s=0.5,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(engine.run_forever(stop))
    try:
        await ingest_concurrently(bridge, versions, refused)
        engine.wake()
        async with asyncio.timeout(50):
            while await bridge.pending():
                await asyncio.sleep(0.2)
    finally:
        stop.set()
        await running
    assert len(versions) + len(refused) >= 1000


async def assert_end_state(bridge: Bridge, histories: list[History]) -> None:
    agora = await bridge.on_agora()
    for h in histories:
        if h.refused:
            assert h.id_dossier not in agora
            continue
        held = agora[h.id_dossier]
        assert from_wire(from_agora(Dossier, held)) == project(h.newest), h.id_dossier
        assert in_order(historique(held)), (h.id_dossier, historique(held))
    stats = await bridge.stats()
    assert stats["creations_refusees_existant"] == 0
    assert stats["transitions_deja_appliquees"] == 0
    assert len(agora) == len(histories) - REFUSED


async def assert_work_items(bridge: Bridge) -> dict[str, Any]:
    async with bridge.sessions() as session:
        items = (await session.execute(select(Livraison))).scalars().all()
    etats = {item.etat for item in items}
    assert etats == {"A_JOUR", "PARQUE"}
    parked = [item for item in items if item.etat == "PARQUE"]
    assert len(parked) == REFUSED
    for item in parked:
        assert item.code == "DATE_FUTURE"
        assert item.message
    return {"items": len(items)}


async def test_soak_with_faults_reaches_exactly_the_newest_states(database_url: str) -> None:
    rng = random.Random(5)
    histories = [history(rng, n, refused=n < REFUSED) for n in range(DOSSIERS)]
    async with delivery(database_url) as bridge:
        await soak(bridge, histories)
        await bridge.faults({})
        await assert_end_state(bridge, histories)
        await assert_work_items(bridge)
        assert await bridge.ledger_intact()
        stats = await bridge.stats()
        faults = sum(
            n
            for k, n in stats["requetes"].items()
            if k.split()[-1] in {"500", "502", "503", "429", "perdue"}
        )
        assert faults >= 0.2 * sum(stats["requetes"].values())
