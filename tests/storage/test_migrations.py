"""Migrations: one head, upgrade from empty, models equal migrations, down to base and up again."""

from __future__ import annotations

import re
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from agora_bridge.snapshots.perimeter import SENDABLE
from agora_bridge.storage.db import (
    REPOSITORY_ROOT,
    alembic_config,
    current_revisions,
    downgrade,
    head_revisions,
    make_sessionmaker,
    upgrade,
)
from agora_bridge.storage.dossiers import StoreOutcome, load_nir, store_snapshot
from agora_bridge.storage.models import Base
from tests.storage.builders import NIR, NOW, crypto, snapshot


def test_there_is_exactly_one_head() -> None:
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def test_migration_files_are_dated() -> None:
    names = [path.name for path in (REPOSITORY_ROOT / "migrations" / "versions").glob("*.py")]
    assert names
    for name in names:
        assert re.fullmatch(r"20[0-9]{6}_[0-9a-f]{12}_[a-z0-9_]+\.py", name), name


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _schema_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_from_empty_reaches_the_head(engine: AsyncEngine) -> None:
    await upgrade(engine)
    assert await current_revisions(engine) == head_revisions()
    async with engine.connect() as connection:
        assert await connection.run_sync(_table_names) >= {"alembic_version", "dossier"}


async def test_the_models_match_the_migrations(migrated_engine: AsyncEngine) -> None:
    async with migrated_engine.connect() as connection:
        assert await connection.run_sync(_schema_differences) == []


async def test_downgrade_to_base_then_upgrade_again_with_data(
    migrated_engine: AsyncEngine,
) -> None:
    session_maker = make_sessionmaker(migrated_engine)
    async with session_maker() as session:
        await store_snapshot(session, snapshot(), SENDABLE, crypto(), now=NOW)
        await session.commit()

    # The data migration of 9826277aaacc decrypts: it needs the keys.
    await downgrade(migrated_engine, "base", crypto=crypto())
    assert await current_revisions(migrated_engine) == ()
    async with migrated_engine.connect() as connection:
        assert "dossier" not in await connection.run_sync(_table_names)

    await upgrade(migrated_engine)
    async with session_maker() as session:
        outcome = await store_snapshot(session, snapshot(), SENDABLE, crypto(), now=NOW)
        await session.commit()
        assert outcome is StoreOutcome.ACCEPTE
        assert await load_nir(session, "PDL-TEST-1", crypto()) == NIR
