"""New work while a run is going, and `sync` in another process learning of an ingest."""

from __future__ import annotations

import asyncio
import tracemalloc

import pytest
from sqlalchemy import text

from agora_bridge.delivery import engine as engine_module
from agora_bridge.delivery import wakeup
from tests.builders import snapshot
from tests.conftest import throwaway_pg_database
from tests.delivery.harness import Bridge, delivery, historique


@pytest.mark.parametrize("woken", [True, False], ids=["woken", "at its interval"])
async def test_a_stuck_dossier_never_holds_back_work_stored_during_the_run(
    database_url: str, woken: bool
) -> None:
    """Workers that found nothing end; the run goes on while one pass is stuck on a slow
    AGORA. Work stored meanwhile gets workers of its own (at once when woken, else at the
    interval), rather than waiting for the stuck pass or being queued behind it."""
    async with delivery(database_url, concurrency=4, interval_s=3600 if woken else 0.2) as bridge:
        release = bridge.transport.hold('"PDL-1"')
        await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1"))
        engine = bridge.engine()
        running = asyncio.create_task(engine.run_once())
        try:
            async with asyncio.timeout(10):
                while not bridge.transport.sent:
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.1)  # the three other workers find nothing and end
                await bridge.ingest(
                    *(snapshot("ENTRE", id_dossier=f"PDL-{n}") for n in range(2, 8))
                )
                if woken:
                    engine.wake()
                while await bridge.pending() > 1:
                    await asyncio.sleep(0.02)
            assert not running.done()  # PDL-1 still stuck
        finally:
            release.set()
        async with asyncio.timeout(10):
            await running
        agora = await bridge.on_agora()
        assert sorted(agora) == [f"PDL-{n}" for n in range(1, 8)]
        assert {tuple(historique(d)) for d in agora.values()} == {("CREATION", "ENTREE")}
        assert await bridge.ledger_intact()


async def test_an_ingest_notification_wakes_sync_in_another_process() -> None:
    """PostgreSQL: `sync` (its own connection, its own process in production) hears the
    ingest's `NOTIFY` and delivers long before its tick."""
    async with throwaway_pg_database() as url, delivery(url, interval_s=3600) as bridge:
        stop = asyncio.Event()
        running = asyncio.create_task(bridge.engine().run_forever(stop))
        try:
            await asyncio.sleep(0.3)  # the first run, at start, finds nothing
            await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1"))
            await wakeup.notify(bridge.sessions)
            async with asyncio.timeout(10):
                while await bridge.pending():
                    await asyncio.sleep(0.02)
        finally:
            stop.set()
            await running
        assert historique((await bridge.on_agora())["PDL-1"]) == ["CREATION", "ENTREE"]


async def test_sync_listens_again_after_its_listening_connection_drops() -> None:
    """A restart of PostgreSQL (here: every other backend of the database terminated) drops
    the listening connection: `sync` listens again instead of polling for ever after."""
    async with throwaway_pg_database() as url, delivery(url) as bridge:
        woken = asyncio.Event()
        async with wakeup.listening(bridge.sessions, woken.set, retry_s=0.1):
            await _notified_until(woken, bridge)
            await _terminate_other_backends(bridge)
            woken.clear()
            await _notified_until(woken, bridge)


async def _notified_until(woken: asyncio.Event, bridge: Bridge) -> None:
    async with asyncio.timeout(10):
        while not woken.is_set():
            await wakeup.notify(bridge.sessions)
            await asyncio.sleep(0.05)


async def _terminate_other_backends(bridge: Bridge) -> None:
    async with bridge.sessions() as session:
        terminated = await session.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert terminated
    await bridge.database.dispose()  # the pool's connections were terminated too


async def test_a_long_run_keeps_nothing_of_each_worker_that_ended(database_url: str) -> None:
    """A run lasts while a pass is stuck, for hours under a steady feed, and each wake starts
    workers that end: the run sums what they did instead of keeping a list of them all."""
    async with delivery(database_url, concurrency=4, interval_s=3600) as bridge:
        engine = bridge.engine()
        release = asyncio.Event()
        started = 0

        async def worker() -> int:
            nonlocal started
            started += 1
            if started == 1:
                await release.wait()  # stuck: the run goes on
            return 1

        async def wakes(count: int) -> None:
            for _ in range(count):
                engine.wake()
                while engine.woken:  # until the run has started workers for it
                    await asyncio.sleep(0)

        engine_file = tracemalloc.Filter(True, engine_module.__file__)
        tracemalloc.start()
        try:
            run = asyncio.create_task(engine._workers(worker))
            await wakes(100)
            before = tracemalloc.take_snapshot().filter_traces([engine_file])
            await wakes(3000)
            after = tracemalloc.take_snapshot().filter_traces([engine_file])
        finally:
            tracemalloc.stop()
            release.set()
        await run
        grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        assert grown < 20_000
