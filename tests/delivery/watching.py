"""Write transactions watched at the seam every one goes through (`storage/executor.begin`),
on either database: what they ran, and a COMMIT that applies but loses its answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.storage import executor


class Watched:
    """A transaction whose statements are kept (their text, their parameter sets), and whose
    commit loses its answer while `lost` says so."""

    def __init__(
        self, transaction: executor.Transaction, lost: GroupCommitLost | None = None
    ) -> None:
        self._transaction, self._lost = transaction, lost
        self.dialect = transaction.dialect
        self.calls: list[tuple[str, int]] = []

    @property
    def runs(self) -> list[int]:
        """The parameter sets of each run of the recorder's fenced updates."""
        return [n for sql, n in self.calls if sql.startswith("UPDATE livraison SET")]

    @property
    def ledger_locked(self) -> bool:
        return self._transaction.ledger_locked

    def lock_taken(self) -> None:
        self._transaction.lock_taken()

    async def rows(self, statement: Any, params: Any = None) -> list[Any]:
        self.calls.append((str(statement), 1))
        return await self._transaction.rows(statement, params)

    async def each(self, statement: Any, params: Any) -> list[Any]:
        self.calls.append((str(statement), len(params)))
        return await self._transaction.each(statement, params)

    async def commit(self) -> None:
        await self._transaction.commit()
        if self.runs and self._lost is not None and self._lost.left > 0:
            self._lost.left -= 1
            raise ConnectionResetError("connection lost during COMMIT")


def watch(monkeypatch: pytest.MonkeyPatch, lost: GroupCommitLost | None = None) -> list[Watched]:
    """Every transaction `executor.begin` opens from now on, watched, in order."""
    real, opened = executor.begin, []

    @asynccontextmanager
    async def begin(
        sessions: async_sessionmaker[AsyncSession],
    ) -> AsyncIterator[executor.Transaction]:
        async with real(sessions) as transaction:
            opened.append(Watched(transaction, lost))
            yield opened[-1]

    monkeypatch.setattr(executor, "begin", begin)
    return opened


class GroupCommitLost:
    """The next `count` group commits of the recorder (a transaction that ran its fenced
    `UPDATE livraison … RETURNING`) apply, then lose their answer (the connection drops during
    COMMIT)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, count: int) -> None:
        self.left = count
        watch(monkeypatch, self)
