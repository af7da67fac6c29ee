"""Snapshots a second through `POST /region/v1/dossiers`, 1,000 a request, on SQLite and
PostgreSQL: the app in process (no network), synthetic realistic lines as JSON Lines.

    .venv/bin/python -m bench.ingest_api [--snapshots 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from agora_bridge.api import create_app
from agora_bridge.logs import configure_logging
from agora_bridge.settings import Settings
from agora_bridge.snapshots.validation import paris_today
from agora_bridge.storage import db
from agora_bridge.storage.callers import NewOrganisation, Role, add_organisation, create_key
from agora_bridge.synthetic import generate
from bench.api_keys import throwaway_database


@asynccontextmanager
async def ingest_client(url: str) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """The app in process on a migrated database, and the headers of a `REGION_SI` key."""
    engine = db.make_engine(url)
    await db.upgrade(engine)
    await engine.dispose()
    app = create_app(Settings(mode="test", database_url=url))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=60) as client,
    ):
        async with app.state.bridge.session_maker() as session, session.begin():
            now = datetime.now(UTC)
            org = await add_organisation(session, NewOrganisation("SI", Role.REGION_SI), now=now)
            key = await create_key(session, org, now=now)
        yield client, {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}


async def measure(url: str, bodies: list[bytes]) -> float:
    async with ingest_client(url) as (client, headers):
        started = time.perf_counter()
        for body in bodies:
            response = await client.post("/region/v1/dossiers", content=body, headers=headers)
            assert response.status_code == 202, response.text
        return time.perf_counter() - started


async def main(snapshots: int) -> None:
    configure_logging(level="WARNING")
    lines = list(generate(snapshots, seed=1, today=paris_today()))
    chunks = [lines[start : start + 1000] for start in range(0, len(lines), 1000)]
    bodies = [("\n".join(chunk) + "\n").encode() for chunk in chunks]
    print("| database | snapshots | requests of 1,000 | seconds | snapshots/s |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as directory:
        seconds = await measure(f"sqlite:///{Path(directory) / 'bench.db'}", bodies)
        row("SQLite", snapshots, len(bodies), seconds)
    async with throwaway_database() as url:
        row("PostgreSQL", snapshots, len(bodies), await measure(url, bodies))


def row(database: str, snapshots: int, requests: int, seconds: float) -> None:
    rate = snapshots / seconds
    print(f"| {database} | {snapshots} | {requests} | {seconds:.1f} | {rate:,.0f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--snapshots", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().snapshots))
