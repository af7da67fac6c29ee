"""Engines and the migration guard, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agora_bridge.settings import ConfigurationError
from agora_bridge.storage.db import (
    DatabaseNotMigratedError,
    assert_at_head,
    async_database_url,
    make_engine,
    upgrade,
)
from agora_bridge.storage.models import Dossier
from tests.conftest import PG_URL, sqlite_url
from tests.storage.builders import NIR, NOW


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///agora_bridge.db", "sqlite+aiosqlite:///agora_bridge.db"),
        ("sqlite:////var/lib/bridge.db", "sqlite+aiosqlite:////var/lib/bridge.db"),
        ("postgresql://u:p%40ss@db:5432/bridge", "postgresql+asyncpg://u:p%40ss@db:5432/bridge"),
        ("postgres://db/bridge", "postgresql+asyncpg://db/bridge"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql+asyncpg://db/bridge", "postgresql+asyncpg://db/bridge"),
    ],
)
def test_plain_urls_get_their_async_driver(url: str, expected: str) -> None:
    assert async_database_url(url) == expected


@pytest.mark.parametrize(
    "url", ["mysql://u:s3cr3tpw@db/x", "postgresql+psycopg2://u:s3cr3tpw@db/x"]
)
def test_an_unsupported_url_names_the_setting_not_the_value(url: str) -> None:
    with pytest.raises(ConfigurationError, match="AGORA_BRIDGE_DATABASE_URL") as error:
        async_database_url(url)
    assert "s3cr3tpw" not in str(error.value)


async def test_sqlite_connections_get_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    try:
        async with engine.connect() as connection:
            pragmas = {
                name: (await connection.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        await engine.dispose()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10_000}


async def test_postgresql_connections_name_the_bridge_and_never_jit_compile() -> None:
    """JIT compiling cost up to a second a statement on tables loaded since their statistics."""
    engine = make_engine(PG_URL)
    try:
        async with engine.connect() as connection:
            settings = {
                name: (await connection.execute(text(f"SHOW {name}"))).scalar_one()
                for name in ("application_name", "jit")
            }
    finally:
        await engine.dispose()
    assert settings == {"application_name": "agora-bridge", "jit": "off"}


async def test_sql_errors_carry_no_row_values(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    def row() -> Dossier:
        return Dossier(
            id_dossier="PDL-1",
            version=1,
            date_maj=NOW,
            payload={"nir": NIR},
            identite_ciphertext=b"",
            identite_key_id="k",
            identite_index=NIR,
            classement="ENVOYABLE",
            motif=NIR,
            created_at=NOW,
            updated_at=NOW,
        )

    async with session_maker() as session:
        session.add(row())
        await session.commit()
    async with session_maker() as session:
        session.add(row())
        with pytest.raises(IntegrityError) as error:
            await session.commit()
    assert NIR not in str(error.value)
    assert NIR[:13] not in str(error.value)


async def test_an_unmigrated_database_is_refused_with_the_command_to_run(
    engine: AsyncEngine,
) -> None:
    with pytest.raises(DatabaseNotMigratedError, match=r"run `agora-bridge db upgrade`"):
        await assert_at_head(engine)
    await upgrade(engine)
    await assert_at_head(engine)
