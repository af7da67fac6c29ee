"""One backfill at a time on a database.

Two backfills of one database would pack the same set-aside dossiers (`packing.py` reads them
outside its write transaction, trusting that only this backfill moves them) and split the
progress of one reprise. The second one is refused with one sentence (exit status 2) rather
than queued: an operator who started it twice wants to know, and the first may run for hours.

The lock dies with its holder, so a SIGKILLed backfill never blocks the next run: on
PostgreSQL a session advisory lock on a connection held for the run (the server releases it
when the connection drops); on SQLite an exclusive `flock` on a file beside the database (the
kernel releases it when the process ends).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from agora_bridge.errors import OperatorError

# An arbitrary 64-bit constant naming the lock ("AGORABFL" in ASCII).
_LOCK_KEY = 0x41474F524142464C
_REFUSED = (
    "another backfill is running on this database: let it finish (or stop it), "
    "then run this command again"
)


class BackfillRunningError(OperatorError):
    pass


@asynccontextmanager
async def only_backfill(engine: AsyncEngine) -> AsyncIterator[None]:
    """Hold the database's backfill lock for the block; BackfillRunningError if another
    process holds it."""
    if engine.dialect.name == "postgresql":
        async with _advisory(engine):
            yield
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield  # no file, no other process can open it
        return
    with _file_lock(Path(f"{database}.backfill.lock")):
        yield


@asynccontextmanager
async def _advisory(engine: AsyncEngine) -> AsyncIterator[None]:
    async with engine.connect() as connection:
        taken = await connection.scalar(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": _LOCK_KEY}
        )
        await connection.commit()  # the lock is the session's, not the transaction's
        if not taken:
            raise BackfillRunningError(_REFUSED)
        try:
            yield
        finally:
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
            await connection.commit()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackfillRunningError(_REFUSED) from None
        yield
    finally:
        # The file stays: removing it would let a third process lock a new file while a
        # second one still holds the old one.
        os.close(fd)  # releases the lock
