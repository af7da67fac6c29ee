"""The engine under `serve`: an APScheduler job every `SYNC__INTERVAL_S`, woken by ingest.

One run at a time per process (`max_instances=1`; a tick that finds the previous run still
going is skipped, `coalesce`); across replicas each item is claimed once (`claims.py`), so
every tick's work is done once cluster-wide however many replicas tick.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from agora_bridge.delivery.engine import Engine

JOB_ID = "agora-bridge-sync"


def schedule(scheduler: AsyncIOScheduler, engine: Engine) -> Callable[[], None]:
    """Add the sync job; returns `wake`, for ingest to call after its commit."""
    job = scheduler.add_job(
        engine.run_once,
        "interval",
        seconds=engine.settings.interval_s,
        id=JOB_ID,
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
        replace_existing=True,
    )

    def wake() -> None:
        # Now rather than at the next tick; a run in progress finishes what is due anyway.
        job.modify(next_run_time=datetime.now(UTC))

    return wake
