"""Database fixtures shared by the test suite: SQLite files and throwaway PostgreSQL databases.

PostgreSQL tests never skip: without a server at AGORA_BRIDGE_TEST_PG_URL they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import NullPool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from agora_bridge.storage.db import async_database_url, make_engine, make_sessionmaker, upgrade

os.environ.setdefault("AGORA_BRIDGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_URL = os.environ["AGORA_BRIDGE_TEST_PG_URL"]
BACKENDS = ("sqlite", "postgresql")


@asynccontextmanager
async def throwaway_pg_database() -> AsyncIterator[str]:
    """A fresh, empty database for one test, dropped afterwards: tests never see each other."""
    name = f"agora_test_{uuid.uuid4().hex[:16]}"
    admin_url = make_url(async_database_url(PG_URL))
    # CREATE/DROP DATABASE cannot run inside a transaction.
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def other_backends(url: str, *, terminate: bool = False) -> int:
    """The database's other server processes (the app's connections): how many there are, or,
    with `terminate`, how many were ended (what a PostgreSQL restart does to them)."""
    counted = "count(pg_terminate_backend(pid))" if terminate else "count(*)"
    admin = create_async_engine(async_database_url(url), poolclass=NullPool)
    async with admin.connect() as connection:
        found = await connection.scalar(
            text(
                f"SELECT {counted} FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    await admin.dispose()
    return int(found or 0)


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'bridge.db'}"


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database, once on SQLite (a file) and once on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    async with throwaway_pg_database() as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def migrated_engine(engine: AsyncEngine) -> AsyncEngine:
    await upgrade(engine)
    return engine


@pytest.fixture
def session_maker(migrated_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(migrated_engine)
