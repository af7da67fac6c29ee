"""Group commit, on SQLite and PostgreSQL: records of several workers in one transaction, each
fenced on its own claim; a failed fence drops that record alone, entries included."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.delivery.claims import claim_due
from agora_bridge.delivery.recorder import Record, Recorder
from agora_bridge.ledger.chain import Entry
from agora_bridge.ledger.store import read_chain, verify_ledger
from agora_bridge.storage.ingest import ingest_parsed
from tests.builders import snapshot
from tests.delivery.harness import CRYPTO, ingestion


def entry(id_dossier: str) -> Entry:
    return Entry(
        recorded_at=datetime.now(UTC),
        kind="agora.attempt",
        id_dossier=id_dossier,
        operation="Creer",
    )


async def test_one_failed_fence_drops_only_its_record(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    items = [(n, snapshot("VALIDE", id_dossier=f"PDL-{n}")) for n in range(1, 4)]
    await ingest_parsed(session_maker, items, ingestion())
    now = datetime.now(UTC)
    async with session_maker() as session, session.begin():
        later = now + timedelta(minutes=1)
        claims = await claim_due(session, owner="A", now=later, lease=timedelta(hours=1), limit=3)
    tokens = {claim.id_dossier: claim.token for claim in claims}
    tokens["PDL-2"] = "not-the-claim"
    async with Recorder(session_maker, CRYPTO, lambda: now) as recorder:
        results = await asyncio.gather(
            *(
                recorder.commit(Record(key, token, {"last_outcome": "X"}, [entry(key)]))
                for key, token in sorted(tokens.items())
            )
        )
    assert results == [1, None, 1]
    async with session_maker() as session:
        written = [link.entry.id_dossier async for link in read_chain(session)]
        assert (await verify_ledger(session)).intact
    assert written[-2:] == ["PDL-1", "PDL-3"]
