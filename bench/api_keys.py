"""What checking an API key costs per request, with and without the replica's key cache.

An authenticated `POST /region/v1/dossiers` with an empty array (routing, middleware, the key
check, no storage) through the app in process, on a throwaway PostgreSQL database.

    .venv/bin/python -m bench.api_keys [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
from sqlalchemy import NullPool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from agora_bridge.api import create_app
from agora_bridge.logs import configure_logging
from agora_bridge.settings import ApiSettings, Settings
from agora_bridge.storage import db
from agora_bridge.storage.callers import NewOrganisation, Role, add_organisation, create_key

PG_URL = os.environ.get("AGORA_BRIDGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@asynccontextmanager
async def throwaway_database() -> AsyncIterator[str]:
    name = f"agora_bench_{uuid.uuid4().hex[:12]}"
    admin_url = make_url(db.async_database_url(PG_URL))
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def measure(url: str, ttl_s: float, requests: int) -> list[float]:
    app = create_app(
        Settings(mode="test", database_url=url, api=ApiSettings(key_cache_ttl_s=ttl_s))
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
    ):
        async with app.state.bridge.session_maker() as session, session.begin():
            now = datetime.now(UTC)
            org = await add_organisation(session, NewOrganisation("SI", Role.REGION_SI), now=now)
            key = await create_key(session, org, now=now)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        latencies = []
        for _ in range(requests):
            started = time.perf_counter()
            response = await client.post("/region/v1/dossiers", content=b"[]", headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 202
    return latencies


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1]


async def main(requests: int) -> None:
    configure_logging(level="WARNING")
    async with throwaway_database() as url:
        engine = db.make_engine(url)
        await db.upgrade(engine)
        await engine.dispose()
        print("| key cache | requests | p50 ms | p99 ms |")
        print("|---|---|---|---|")
        for ttl in (0.0, 2.0):
            latencies = await measure(url, ttl, requests)
            label = "none (a read per request)" if ttl == 0 else f"TTL {ttl:g} s"
            p50, p99 = quantile(latencies, 0.5), quantile(latencies, 0.99)
            print(f"| {label} | {requests} | {p50:.2f} | {p99:.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    asyncio.run(main(parser.parse_args().requests))
