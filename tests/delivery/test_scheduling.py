"""The engine as `serve` runs it: an APScheduler job, woken at once by an ingest."""

from __future__ import annotations

import asyncio
import logging

import pytest

from agora_bridge.delivery.scheduling import running
from tests.builders import snapshot
from tests.delivery.harness import Bridge, delivery, historique


async def test_an_ingest_wakes_the_job_long_before_its_tick(database_url: str) -> None:
    async with delivery(database_url, interval_s=3600) as bridge:
        due = asyncio.Event()
        async with running(bridge.engine(), due):
            await asyncio.sleep(0.2)  # the first run, at start, finds nothing
            await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1"))
            due.set()  # as the ingest route does after its commit
            async with asyncio.timeout(10):
                while await bridge.pending():
                    await asyncio.sleep(0.05)
        assert historique((await bridge.on_agora())["PDL-1"]) == ["CREATION", "ENTREE"]


async def test_ingests_during_a_long_run_are_delivered_without_a_skipped_run_warning(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A run lasts while a pass is stuck on a slow AGORA; each ingest meanwhile used to ask
    APScheduler for another run, which it skipped with a WARNING (one an ingest). The run
    in progress takes the new work itself, and nothing warns."""
    async with delivery(database_url, interval_s=3600) as bridge:
        release = bridge.transport.hold('"PDL-1"')
        await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1"))
        due = asyncio.Event()
        # Stopped as `serve` stops it: the runs in progress finish before the scheduler goes.
        async with running(bridge.engine(), due):
            try:
                async with asyncio.timeout(10):
                    while not bridge.transport.sent:
                        await asyncio.sleep(0.01)
                    for n in (2, 3, 4):
                        await bridge.ingest(snapshot("ENTRE", id_dossier=f"PDL-{n}"))
                        due.set()
                        await asyncio.sleep(0.05)
                    while await bridge.pending() > 1:
                        await asyncio.sleep(0.02)
                    release.set()
                    await until_nothing_pending(bridge)
            finally:
                release.set()
        assert scheduler_warnings(caplog) == []


async def test_interval_ticks_during_a_long_run_do_nothing_and_warn_nothing(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A run kept going by a stuck pass lives through many intervals: each tick finds it and
    returns, where APScheduler's `max_instances` used to skip it with a WARNING every
    interval; the run still delivers what is stored meanwhile, at its own interval."""
    async with delivery(database_url, interval_s=0.1) as bridge:
        release = bridge.transport.hold('"PDL-1"')
        await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1"))
        # Stopped as `serve` stops it: shut down under a run in progress, APScheduler would
        # cancel it and log the job's CancelledError.
        async with running(bridge.engine(), asyncio.Event()):
            try:
                async with asyncio.timeout(10):
                    while not bridge.transport.sent:
                        await asyncio.sleep(0.01)
                    await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-2"))  # no wake
                    await asyncio.sleep(1.0)  # ten intervals
                    assert await bridge.pending() == 1  # PDL-2 went, PDL-1 is stuck
                    release.set()
                    await until_nothing_pending(bridge)
            finally:
                release.set()
        assert sorted(await bridge.on_agora()) == ["PDL-1", "PDL-2"]
        assert scheduler_warnings(caplog) == []


async def until_nothing_pending(bridge: Bridge) -> None:
    while await bridge.pending():
        await asyncio.sleep(0.02)


def scheduler_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What APScheduler warned of (a skipped run, say)."""
    records = [r for r in caplog.records if r.name.startswith("apscheduler")]
    return [r.getMessage() for r in records if r.levelno >= logging.WARNING]
