"""The bridge's delivery side against the bundled mock over loopback, for the engine tests.

async with delivery(database_url) as bridge:
    await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1"))
    await bridge.drain()
    assert (await bridge.on_agora())["PDL-1"]["statut"] == "ENTRE"
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agora_bridge.agora.client import AgoraClient
from agora_bridge.delivery.engine import Engine, utc_now
from agora_bridge.ledger.store import verify_ledger
from agora_bridge.settings import DEFAULT_EXCLUDED, AgoraSettings, SyncSettings
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.perimeter import Perimeter
from agora_bridge.storage.db import make_engine, make_sessionmaker, upgrade
from agora_bridge.storage.ingest import Ingestion, IngestReport, ingest_parsed
from agora_bridge.storage.livraisons import A_FAIRE
from agora_bridge.storage.models import Livraison
from mocks import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, RunningMock, running_mock
from tests.builders import TODAY
from tests.delivery.faulty import Faulty
from tests.storage.builders import crypto

CRYPTO = crypto()
CODE_FINANCEUR = "REG52"


def agora_settings(url: str, **changes: Any) -> AgoraSettings:
    """Short timeouts and retries: the tests force failures and must not wait for them."""
    values: dict[str, Any] = {
        "base_url": f"{url}/agora/v2",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "timeout_s": 2.0,
        "max_rps": 0,
        "retry_attempts": 2,
        "retry_base_s": 0.01,
        "retry_min_s": 0.01,
        "retry_cap_s": 0.05,
        "retry_budget_s": 0.5,
    }
    return AgoraSettings(**(values | changes))


def sync_settings(**changes: Any) -> SyncSettings:
    values: dict[str, Any] = {
        "concurrency": 8,
        "lease_s": 30.0,
        "retry_base_s": 0.01,
        "retry_cap_s": 0.05,
        "breaker_threshold": 1000,
        "breaker_pause_s": 0.05,
        "breaker_max_pause_s": 0.2,
    }
    return SyncSettings(**(values | changes))


def ingestion() -> Ingestion:
    return Ingestion(
        today=TODAY,
        now=datetime.now(UTC),
        perimeter=Perimeter(DEFAULT_EXCLUDED),
        crypto=CRYPTO,
    )


@dataclass
class Bridge:
    database: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    mock: RunningMock
    client: AgoraClient
    transport: Faulty
    settings: SyncSettings
    engines: list[Engine] = field(default_factory=list)

    def engine(self, *, clock: Callable[[], datetime] | None = None, **changes: Any) -> Engine:
        engine = Engine(
            self.sessions,
            self.client,
            CRYPTO,
            self.settings.model_copy(update=changes),
            code_financeur=CODE_FINANCEUR,
            clock=clock or utc_now,
        )
        self.engines.append(engine)
        return engine

    async def ingest(self, *snapshots: Snapshot) -> IngestReport:
        items = list(enumerate(snapshots, 1))
        return await ingest_parsed(self.sessions, items, ingestion())

    async def ingest_on(self, today: date, *snapshots: Snapshot) -> IngestReport:
        """Ingest as a Région whose clock says `today` (AGORA's may disagree)."""
        items = list(enumerate(snapshots, 1))
        return await ingest_parsed(self.sessions, items, replace(ingestion(), today=today))

    async def pending(self) -> int:
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(Livraison).where(Livraison.etat == A_FAIRE)
            )
            return count or 0

    async def drain(self, engine: Engine | None = None, *, timeout_s: float = 30.0) -> None:
        """Run the engine until no work item is pending (waiting for backoffs to end)."""
        engine = engine or (self.engines[0] if self.engines else self.engine())
        async with asyncio.timeout(timeout_s):
            while True:
                await engine.run_once()
                if not await self.pending():
                    return
                await asyncio.sleep(0.02)

    async def item(self, id_dossier: str) -> Livraison:
        async with self.sessions() as session:
            found = await session.get(Livraison, id_dossier)
            assert found is not None
            return found

    async def faults(self, config: dict[str, Any]) -> None:
        async with httpx.AsyncClient(base_url=self.mock.url) as http:
            (await http.put("/__mock__/faults", json=config)).raise_for_status()

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.mock.url) as http:
            stats: dict[str, Any] = (await http.get("/__mock__/stats")).json()
            return stats

    async def on_agora(self) -> dict[str, dict[str, Any]]:
        """Every dossier the mock holds, by reference_financeur (REG52's only)."""
        async with httpx.AsyncClient(base_url=self.mock.url) as http:
            body = (await http.get("/__mock__/dossiers")).content
        dossiers = [json.loads(line) for line in body.splitlines() if line.strip()]
        return {
            d["reference_financeur"]: d for d in dossiers if d["code_financeur"] == CODE_FINANCEUR
        }

    async def ledger_intact(self) -> bool:
        async with self.sessions() as session:
            return (await verify_ledger(session)).intact


@asynccontextmanager
async def delivery(
    database_url: str,
    *,
    mock_options: dict[str, Any] | None = None,
    engine_options: dict[str, Any] | None = None,
    **sync_changes: Any,
) -> AsyncIterator[Bridge]:
    """`engine_options`: `db.make_engine`'s (`sync`'s pool: `ping_after_idle_s`)."""
    database = make_engine(database_url, **(engine_options or {}))
    await upgrade(database)
    try:
        async with running_mock(**{"lot_delay_s": 0.05, **(mock_options or {})}) as mock:
            transport = Faulty()
            client = AgoraClient(agora_settings(mock.url), transport=transport)
            async with client:
                yield Bridge(
                    database,
                    make_sessionmaker(database),
                    mock,
                    client,
                    transport,
                    sync_settings(**sync_changes),
                )
    finally:
        await database.dispose()


def historique(dossier: dict[str, Any]) -> list[str]:
    return [event["operation"] for event in dossier["historique"]]
