"""The engine as `serve` runs it: an APScheduler job, woken at once by an ingest."""

from __future__ import annotations

import asyncio

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from agora_bridge.delivery.scheduling import schedule
from tests.builders import snapshot
from tests.delivery.harness import delivery, historique


async def test_an_ingest_wakes_the_job_long_before_its_tick(database_url: str) -> None:
    async with delivery(database_url, interval_s=3600) as bridge:
        scheduler = AsyncIOScheduler()
        wake = schedule(scheduler, bridge.engine())
        scheduler.start()
        try:
            await asyncio.sleep(0.2)  # the first run, at start, finds nothing
            await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1"))
            wake()
            async with asyncio.timeout(10):
                while await bridge.pending():
                    await asyncio.sleep(0.05)
        finally:
            scheduler.shutdown(wait=False)
        assert historique((await bridge.on_agora())["PDL-1"]) == ["CREATION", "ENTREE"]
