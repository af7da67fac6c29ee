"""Waking sync engines in other processes when work is stored (PostgreSQL `LISTEN`/`NOTIFY`).

`serve` wakes its own engine in process; `agora-bridge sync` runs apart from the API, and
without this it found new work only at its next tick (`SYNC__INTERVAL_S`). A notification is
only a hint: it carries nothing, may be lost (a dropped listening connection), and the engine
still polls at its interval, so correctness never depends on it. SQLite has no such thing
(and one writer: `sync` there keeps polling).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agora_bridge.logs import get_logger

log = get_logger(__name__)
CHANNEL = "agora_bridge_livraison"
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


@contextlib.asynccontextmanager
async def listening(
    sessions: async_sessionmaker[AsyncSession], wake: Callable[[], None]
) -> AsyncIterator[None]:
    """`wake()` for each notification while the block runs, over a connection of the pool
    held for it (PostgreSQL; nothing on SQLite). Failing to listen is logged, not raised."""
    engine = _postgresql(sessions)
    if engine is None:
        yield
        return

    def notified(*_args: Any) -> None:
        wake()

    driver: Any = None
    async with contextlib.AsyncExitStack() as stack:
        try:
            connection = await stack.enter_async_context(engine.connect())
            driver = (await connection.get_raw_connection()).driver_connection
            await driver.add_listener(CHANNEL, notified)
        except Exception as error:  # the driver's errors too: a hint lost, the engine polls
            log.warning("delivery.listen.failed", cause=type(error).__name__)
            driver = None
        try:
            yield
        finally:
            if driver is not None and not driver.is_closed():
                with contextlib.suppress(Exception):  # closing anyway: nothing more to do
                    await driver.remove_listener(CHANNEL, notified)
