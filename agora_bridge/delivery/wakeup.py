"""Waking sync engines in other processes when work is stored (PostgreSQL `LISTEN`/`NOTIFY`).

`serve` wakes its own engine in process; `agora-bridge sync` runs apart from the API, and
without this it found new work only at its next tick (`SYNC__INTERVAL_S`). A notification is
only a hint: it carries nothing, may be lost (a dropped listening connection), and the engine
still polls at its interval, so correctness never depends on it. SQLite has no such thing
(and one writer: `sync` there keeps polling).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from agora_bridge.logs import get_logger

log = get_logger(__name__)
CHANNEL = "agora_bridge_livraison"
# A dropped listening connection is replaced this soon (or at the engine's interval, if sooner).
RETRY_S = 5.0
_NOTIFY = text("SELECT pg_notify(:channel, '')")


def _postgresql(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine | None:
    bind = sessions.kw.get("bind")
    if isinstance(bind, AsyncEngine) and bind.dialect.name == "postgresql":
        return bind
    return None


async def notify(sessions: async_sessionmaker[AsyncSession]) -> None:
    """After a commit that stored due work: every listening engine looks for it now. One
    round trip outside any transaction; a failure is only logged (the engines still poll)."""
    if _postgresql(sessions) is None:
        return
    try:
        async with sessions() as session:
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            await session.execute(_NOTIFY, {"channel": CHANNEL})
    except (SQLAlchemyError, OSError) as error:
        log.warning("delivery.notify.failed", cause=type(error).__name__)


async def notify_at_commit(session: AsyncSession) -> None:
    """The same notification, sent by PostgreSQL when the caller's transaction commits (never
    if it rolls back): a long import wakes the engines batch after batch, not at its end."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_NOTIFY, {"channel": CHANNEL})


@contextlib.asynccontextmanager
async def listening(
    sessions: async_sessionmaker[AsyncSession], wake: Callable[[], None], *, retry_s: float
) -> AsyncIterator[None]:
    """`wake()` for each notification while the block runs, over a connection held for it
    (PostgreSQL; nothing on SQLite). A listening connection that fails or drops (a restart
    of PostgreSQL) is replaced after `retry_s`, again until one holds: the engine polls
    meanwhile, and is woken once listening again (what was notified in between is lost)."""
    engine = _postgresql(sessions)
    if engine is None:
        yield
        return
    listener = asyncio.create_task(_listen(engine, wake, retry_s))
    try:
        yield
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def _listen(engine: AsyncEngine, wake: Callable[[], None], retry_s: float) -> None:
    on_listening = _nothing  # the first time: the engine runs at start anyway
    while True:
        try:
            async with engine.connect() as connection:
                await _until_dropped(connection, wake, on_listening)
            log.warning("delivery.listen.dropped")
        except Exception as error:  # the driver's errors too: a hint lost, the engine polls
            log.warning("delivery.listen.failed", cause=type(error).__name__)
        on_listening = wake
        await asyncio.sleep(retry_s)


async def _until_dropped(
    connection: AsyncConnection, wake: Callable[[], None], on_listening: Callable[[], None]
) -> None:
    """Listens until the connection drops. It never goes back to the pool (its LISTEN would
    go on under whoever took it next): closed whatever happens."""
    try:
        driver: Any = (await connection.get_raw_connection()).driver_connection
        dropped = asyncio.Event()
        driver.add_termination_listener(lambda *_: dropped.set())
        await driver.add_listener(CHANNEL, lambda *_: wake())
        on_listening()
        await dropped.wait()
    finally:
        await connection.invalidate()


def _nothing() -> None:
    pass
