"""The engine under `serve`: an APScheduler job every `SYNC__INTERVAL_S`, woken by ingest.

One run at a time per process (a tick that finds the previous run still going returns at
once: that run takes what is due itself; `coalesce` folds missed ticks); across replicas
each item is claimed once (`claims.py`), so every tick's work is done once cluster-wide
however many replicas tick.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from agora_bridge.delivery.engine import Engine

JOB_ID = "agora-bridge-sync"


def schedule(
    scheduler: AsyncIOScheduler, engine: Engine, *, runs: set[asyncio.Task[int]] | None = None
) -> Callable[[], None]:
    """Add the sync job; returns `wake`, for ingest to call after its commit. `runs` holds
    the runs in progress, for a caller that must wait for them before closing what they use."""
    running = runs if runs is not None else set()

    async def tick() -> int:
        if engine.stopping:
            return 0  # `serve` is shutting down: no new run
        if running:
            # A run is going (a stuck pass keeps it going for long): it starts workers at each
            # interval itself. Left to `max_instances=1`, APScheduler would skip this tick
            # with a WARNING every `interval_s` for as long as the run lasts.
            return 0
        task: asyncio.Task[int] = asyncio.current_task()  # type: ignore[assignment]
        running.add(task)
        try:
            passes = await engine.run_once()
            # Woken as the run ended (its workers had all stopped): once more, at once.
            while engine.woken and not engine.stopping:
                passes += await engine.run_once()
            return passes
        finally:
            running.discard(task)

    job = scheduler.add_job(
        tick,
        "interval",
        seconds=engine.settings.interval_s,
        id=JOB_ID,
        max_instances=2,  # the second returns at once (above)
        coalesce=True,
        next_run_time=datetime.now(UTC),
        replace_existing=True,
    )

    def wake() -> None:
        # Now rather than at the next tick; a run in progress (the job's single instance)
        # starts workers for the new work itself, or runs again: asked for another run
        # meanwhile, APScheduler would skip it with a WARNING (one an ingest).
        engine.wake()
        if not running:
            job.modify(next_run_time=datetime.now(UTC))

    return wake


@asynccontextmanager
async def running(engine: Engine, due: asyncio.Event) -> AsyncIterator[None]:
    """The engine on its schedule while the block runs, woken whenever `due` is set (by the
    ingest route, after its commit). On exit no new claim is taken and the passes in flight
    finish, so that the AGORA client and the database can close under nobody."""
    scheduler = AsyncIOScheduler()
    runs: set[asyncio.Task[int]] = set()
    wake = schedule(scheduler, engine, runs=runs)
    scheduler.start()
    forwarder = asyncio.create_task(_forward(due, wake))
    try:
        yield
    finally:
        forwarder.cancel()
        engine.stop()
        # Let the runs finish before the scheduler goes: its shutdown cancels running jobs,
        # which would leave a transaction open (on SQLite, the write lock) and claims taken.
        # Until none is left: a tick may have begun while the others were awaited.
        while runs:
            await asyncio.gather(*runs, return_exceptions=True)
        scheduler.shutdown(wait=False)
        with suppress(asyncio.CancelledError):
            await forwarder


async def _forward(due: asyncio.Event, wake: Callable[[], None]) -> None:
    while True:
        await due.wait()
        due.clear()
        wake()
