"""`agora-bridge serve`: the HTTP API under uvicorn (one worker), background services in its
lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI

from agora_bridge.api import create_app
from agora_bridge.api.state import BridgeState
from agora_bridge.cli.common import run_database_command
from agora_bridge.delivery.engine import Engine, check_lease
from agora_bridge.delivery.scheduling import running
from agora_bridge.serving import uvicorn_config
from agora_bridge.settings import Settings
from agora_bridge.storage import db


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Serve the HTTP API until interrupted."""
    settings = Settings()
    # Checked before uvicorn starts, so that the refusal is one sentence, not a lifespan
    # traceback; the lifespan checks it again for every other way of running the app.
    run_database_command(_check_database(settings.database_url))
    check_lease(settings.sync, settings.agora_access())
    app = create_app(settings, background=[delivery])
    # The modules' objects, some 10^5, never become garbage: frozen out of the collector's
    # reach, its full passes stop walking them all (6 % of the API's CPU under load, py-spy).
    gc.collect()
    gc.freeze()
    server_for(app, host=host, port=port).run()


# The engine's own connections: its passes (SYNC__CONCURRENCY of them, 64 by default) queue
# for these, never for the API's. Sharing the API's pool, a drain at 64 passes raised the
# wait of an API statement from p99 15 to 82 ms (PostgreSQL, 600 dossiers).
DELIVERY_POOL_SIZE = 8
DELIVERY_PING_AFTER_IDLE_S = 2.0


@asynccontextmanager
async def delivery(state: BridgeState) -> AsyncIterator[None]:
    """The sync engine, scheduled every SYNC__INTERVAL_S and woken by each ingest, on a pool
    of its own."""
    database = db.make_engine(
        state.settings.database_url,
        pool_size=DELIVERY_POOL_SIZE,
        max_overflow=0,
        ping_after_idle_s=DELIVERY_PING_AFTER_IDLE_S,
    )
    try:
        engine = Engine(
            db.make_sessionmaker(database),
            state.agora,
            state.crypto,
            state.settings.sync,
            code_financeur=state.settings.code_financeur,
        )
        state.delivery = engine  # its counters and circuit, for /metrics and the ops status
        async with running(engine, state.delivery_due):
            yield
    finally:
        await database.dispose()


async def _check_database(url: str) -> None:
    engine = db.make_engine(url)
    try:
        await db.assert_at_head(engine)
    finally:
        await engine.dispose()


def server_for(app: FastAPI, *, host: str, port: int) -> uvicorn.Server:
    # The mock's server stack (uvloop, httptools: agora_bridge.serving), one worker; the
    # request id middleware logs each request, redacted, so no access log.
    config = uvicorn_config(app, host=host, port=port, workers=1, timeout_graceful_shutdown=10)
    return uvicorn.Server(config)
