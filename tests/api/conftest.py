"""Migrated databases for the API tests (the app refuses any other)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agora_bridge.storage.db import make_engine, upgrade
from tests.conftest import sqlite_url


async def migrate(url: str) -> str:
    engine = make_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    return url


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    """A migrated database, once on SQLite and once on PostgreSQL."""
    return await migrate(database_url)


@pytest.fixture
async def migrated_sqlite(tmp_path: Path) -> str:
    """A migrated SQLite file: for what does not depend on the database."""
    return await migrate(sqlite_url(tmp_path))
