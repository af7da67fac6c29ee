"""The claim built once with bound values: what it takes, how many, in which order, on
SQLite and PostgreSQL, its `now` given in any offset (`UtcDateTime` makes it UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.delivery.claims import claim_due
from agora_bridge.storage.executor import on_session
from agora_bridge.storage.ingest import ingest_parsed
from agora_bridge.storage.models import Livraison
from tests.builders import snapshot
from tests.delivery.harness import ingestion

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
PARIS_SUMMER = timezone(timedelta(hours=2))


async def _items(sessions: async_sessionmaker[AsyncSession]) -> None:
    items = [(n, snapshot("VALIDE", id_dossier=f"PDL-{n}")) for n in range(1, 7)]
    await ingest_parsed(sessions, items, ingestion())
    due = {1: 5, 2: 1, 3: 1, 4: 3, 5: 30, 6: 2}  # minutes after T0
    async with sessions() as session, session.begin():
        for n, minutes in due.items():
            statement = update(Livraison).where(Livraison.id_dossier == f"PDL-{n}")
            await session.execute(statement.values(due_at=T0 + timedelta(minutes=minutes)))
        # PDL-6's lease still runs at T0+10 min: not taken; PDL-4's lapsed: taken, verifier.
        leased = {"PDL-6": T0 + timedelta(minutes=20), "PDL-4": T0 + timedelta(minutes=4)}
        for key, until in leased.items():
            statement = update(Livraison).where(Livraison.id_dossier == key)
            await session.execute(statement.values(lease_owner="X", lease_until=until))


async def _claim(
    sessions: async_sessionmaker[AsyncSession], now: datetime, limit: int
) -> list[tuple[str, bool]]:
    async with sessions() as session, session.begin():
        lease = timedelta(minutes=1)
        claims = await claim_due(on_session(session), owner="A", now=now, lease=lease, limit=limit)
    return [(claim.id_dossier, claim.verifier) for claim in claims]


async def test_the_claim_takes_the_due_oldest_first_up_to_its_limit_whatever_the_offset(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    await _items(session_maker)
    # T0 + 10 min, written in UTC+2: PDL-5 (due at +30) is not due yet.
    now = (T0 + timedelta(minutes=10)).astimezone(PARIS_SUMMER)
    assert await _claim(session_maker, now, 2) == [("PDL-2", False), ("PDL-3", False)]
    assert await _claim(session_maker, now, 5) == [("PDL-4", True), ("PDL-1", False)]
    assert await _claim(session_maker, now, 5) == []


async def test_a_naive_now_is_refused(session_maker: async_sessionmaker[AsyncSession]) -> None:
    await _items(session_maker)
    with pytest.raises(Exception, match="naive datetime"):
        await _claim(session_maker, datetime(2026, 3, 1, 13), 1)
