"""Alembic environment: async engines, one metadata, batch mode for SQLite.

Three ways in: `agora_bridge.storage.db.upgrade(engine)` hands over a connection (the recipe
for callers already inside an event loop); otherwise a URL from the Config (set by
`alembic_config(url)` or `sqlalchemy.url`), else from Settings.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from agora_bridge.settings import Settings
from agora_bridge.storage.db import async_database_url, make_engine
from agora_bridge.storage.models import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    return async_database_url(url or Settings().database_url)


def run_migrations_offline() -> None:
    """`alembic upgrade --sql`: the SQL for a DBA to review, no database needed."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=database_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        # Our engine emits BEGIN itself, so SQLite DDL is transactional too: a failed migration
        # leaves the schema as it was.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    # The application's engine: its SQLite pragmas and BEGIN IMMEDIATE apply to migrations too.
    engine = make_engine(database_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations())
    else:
        do_run_migrations(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
