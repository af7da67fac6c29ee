"""The soak of issue 7, on SQLite and PostgreSQL: hundreds of dossiers, over a thousand
snapshot versions ingested concurrently and out of order (stale re-sends included) while the
engine runs, against a mock that fails ≥ 20 % of calls, loses 5 % of answers after applying
them, answers 5 % with 429, adds latency and goes down for a while.

At the end AGORA holds exactly the newest state of every sendable dossier, each created once,
each history in order with no step twice, nothing pending, every parked dossier parked for a
business reason, the ledger intact, and the database holds no NIR, name or birth date.
"""

from __future__ import annotations

import asyncio
import random

from tests.delivery.checks import (
    assert_end_state,
    assert_every_attempt_has_its_outcome,
    assert_work_items,
    ingest_concurrently,
)
from tests.delivery.faulty import SIRET_REFUSED
from tests.delivery.harness import Bridge, delivery
from tests.delivery.histories import History, deliveries, history, personal_data
from tests.stored_text import assert_absent, stored_bytes

DOSSIERS = 200
REFUSED = 6  # parked: AGORA refuses their creation (SIRET_INVALIDE)
FAULTS = {
    "seed": 7,
    "error_rate": 0.20,
    "lost_response_rate": 0.05,
    "rate_limit_rate": 0.05,
    "retry_after_s": 1,
    "latency_ms": [0, 3],
    "outage": {"from_s": 1.0, "to_s": 2.0},
}


async def soak(bridge: Bridge, histories: list[History]) -> None:
    rng = random.Random(11)
    sendable = [h for h in histories if not h.refused]
    versions = deliveries(rng, sendable, stale=900)
    refused = [h.newest for h in histories if h.refused]
    for snapshot in refused:
        bridge.transport.refuse(
            "POST",
            r"/dossiers$",
            status=422,
            body=SIRET_REFUSED,
            times=100,
            containing=f'"reference_financeur":"{snapshot.id_dossier}"',
        )
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


async def test_soak_with_faults_reaches_exactly_the_newest_states(database_url: str) -> None:
    rng = random.Random(5)
    histories = [history(rng, n, refused=n < REFUSED) for n in range(DOSSIERS)]
    async with delivery(database_url) as bridge:
        await soak(bridge, histories)
        await bridge.faults({})
        await assert_end_state(bridge, histories)
        await assert_work_items(bridge, parked=REFUSED)
        assert await bridge.ledger_intact()
        await assert_every_attempt_has_its_outcome(bridge)
        stats = await bridge.stats()
        faults = sum(
            n
            for k, n in stats["requetes"].items()
            if k.split()[-1] in {"500", "502", "503", "429", "perdue"}
        )
        assert faults >= 0.2 * sum(stats["requetes"].values())
        stored = await stored_bytes(database_url)
        assert b"SOAK-0001" in stored  # the search below looks at something real
        assert_absent(stored, personal_data(histories))
