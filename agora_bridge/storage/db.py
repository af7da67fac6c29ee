"""Engines, sessions and migrations: the one place that knows how we talk to the database.

PostgreSQL in production, a SQLite file as the embedded default; both through async drivers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from agora_bridge.errors import OperatorError
from agora_bridge.settings import ConfigurationError
from agora_bridge.storage.crypto import NirCrypto

# The package is installed editable: alembic.ini and migrations/ sit at the repository root.
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DATABASE_URL_SETTING = "AGORA_BRIDGE_DATABASE_URL"
NOT_MIGRATED = "database is not migrated: run `agora-bridge db upgrade`"

_ASYNC_SCHEMES = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
# Long enough for a backfill batch to commit; a write waiting longer than this is a real problem.
_SQLITE_BUSY_TIMEOUT_MS = 10_000
# PostgreSQL SQLSTATE classes of a statement refused for the values it carries: data exception
# (a NUL in jsonb, a number out of range), integrity constraint, program limit (too large).
_REFUSAL_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})


class DatabaseNotMigratedError(OperatorError):
    """The schema is not at the newest migration; the service must not start on it."""


def async_database_url(url: str) -> str:
    """Give plain `sqlite:///…` and `postgresql://…` URLs their async driver."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in _ASYNC_SCHEMES:
        # The URL may hold a password: name the setting, never the value.
        raise ConfigurationError(
            f"{DATABASE_URL_SETTING} must start with sqlite:// or postgresql:// "
            "(optionally with the +aiosqlite or +asyncpg driver)"
        )
    return f"{_ASYNC_SCHEMES[scheme]}://{rest}"


# JIT off: our statements are short OLTP ones, but on a table whose statistics predate a bulk
# load (a backfill) the planner's cost estimates pass the JIT threshold and compiling took
# 0.2-1.3 s a statement (a lot's return-flow look-up: 296 ms with JIT, 41 ms without).
_SERVER_SETTINGS = {"application_name": "agora-bridge", "jit": "off"}


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    ping_after_idle_s: float | None = None,
) -> AsyncEngine:
    """`hide_parameters` keeps personal data (NIR ciphertexts, names) out of SQL error messages.

    PostgreSQL connections are checked before use, to survive a server restart without
    failing the next request: each time by default, or (`ping_after_idle_s`) only after that
    long unused, and whenever the driver saw the server close it (free). asyncpg's check is
    three round trips (BEGIN, a statement, ROLLBACK): a busy HTTP API, whose connections come
    back within milliseconds, skips it. Connections past
    `pool_size` are closed when returned: under steady load they are opened again and again,
    which an API sizes away (`max_overflow=0`: a request waits for a connection instead)."""
    async_url = async_database_url(url)
    if async_url.startswith("sqlite"):
        engine = create_async_engine(async_url, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    engine = create_async_engine(
        async_url,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=ping_after_idle_s is None,
        pool_recycle=1800,
        connect_args={"server_settings": _SERVER_SETTINGS},
    )
    if ping_after_idle_s is not None:
        _ping_after_idle(engine, ping_after_idle_s)
    return engine


def _ping_after_idle(engine: AsyncEngine, idle_s: float) -> None:
    def checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["returned_at"] = time.monotonic()

    def checking_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if _closed_by_server(dbapi_connection):
            # A restart or a backend ended by an administrator, however recently the
            # connection was used: the driver saw the socket close, no round trip needed.
            raise DisconnectionError("the server closed the connection")
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < idle_s:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool's contract: it drops this connection and hands out a fresh one.
            raise DisconnectionError("the connection failed its check") from error

    event.listen(engine.sync_engine.pool, "checkin", checked_in)
    event.listen(engine.sync_engine.pool, "checkout", checking_out)


def _closed_by_server(dbapi_connection: Any) -> bool:
    is_closed = getattr(getattr(dbapi_connection, "driver_connection", None), "is_closed", None)
    return bool(is_closed()) if callable(is_closed) else False


def _configure_sqlite(engine: AsyncEngine) -> None:
    event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Take BEGIN away from the sqlite3 driver, which skips it before SELECT and DDL
    # (see `_sqlite_begin`); the pragmas must run outside any transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",  # readers never block the writer
        "PRAGMA synchronous=NORMAL",  # durable at each checkpoint; safe with WAL
        "PRAGMA foreign_keys=ON",
        f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}",
    ):
        cursor.execute(pragma)
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # IMMEDIATE takes the write lock at BEGIN: transactions run one after the other, waiting
    # (busy_timeout) instead of failing with SQLITE_BUSY when a read turns into a write,
    # which mirrors the row locks the PostgreSQL paths rely on. DDL becomes transactional too.
    # AUTOCOMMIT connections are left alone: checkpoints and VACUUM refuse a transaction.
    if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_refusal(error: BaseException) -> bool:
    """The database refused the values of one statement: the same values would be refused
    again, other statements still go through. A database that fails (connection lost, locked,
    schema missing) is not a refusal: every line would be refused in turn."""
    if isinstance(error, OverflowError):
        return True  # sqlite3 cannot bind an integer beyond 64 bits
    if not isinstance(error, DBAPIError) or error.connection_invalidated:
        return False
    if isinstance(error, IntegrityError | DataError):
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in _REFUSAL_SQLSTATE_CLASSES


def refusal_cause(error: BaseException) -> str:
    """The driver's error class and SQLSTATE: never its message, which may quote a value."""
    driver_error = getattr(error, "orig", None) or error
    sqlstate = getattr(driver_error, "sqlstate", None)
    name = type(driver_error).__name__
    return f"{name} {sqlstate}" if isinstance(sqlstate, str) else name


async def reading(session: AsyncSession) -> None:
    """Reads outside a transaction: on SQLite every transaction takes the write lock (see
    `_sqlite_begin`), and a reader must not queue behind writers nor hold writers back. Each
    statement stands alone (on SQLite's WAL, a consistent snapshot of what was committed)."""
    await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


async def refresh_statistics(session: AsyncSession, tables: Sequence[str]) -> None:
    """PostgreSQL: `ANALYZE` `tables` in the caller's transaction. A mass load grows tables
    far past the statistics the planner last saw (autovacuum analyses them later, or never
    when it is off): planned for a few hundred rows, a batch's `= ANY(keys)` look-up by
    primary key became a bitmap scan of every row, slower with each batch. A table the
    connection's role does not own is skipped by PostgreSQL with a warning, not an error.
    SQLite's planner needs no statistics for these look-ups: nothing to do there."""
    if session.get_bind().dialect.name != "postgresql":
        return
    quoted = ", ".join(f'"{name}"' for name in tables)
    await session.execute(text(f"ANALYZE {quoted}"))


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Objects stay readable after commit: callers commit at the boundary, then build answers.
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration, usable from any working directory; `url` overrides Settings."""
    config = Config(str(REPOSITORY_ROOT / "alembic.ini"))
    # set_main_option interpolates: a `%` in the checkout's path must be doubled.
    script_location = str(REPOSITORY_ROOT / "migrations").replace("%", "%%")
    config.set_main_option("script_location", script_location)
    # The application owns logging; only the `alembic` command line lets the ini configure it.
    config.attributes["configure_logger"] = False
    if url is not None:
        config.attributes["database_url"] = url
    return config


def head_revisions() -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


async def current_revisions(engine: AsyncEngine) -> tuple[str, ...]:
    """The revisions recorded in the database; empty when it was never migrated."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current_heads)


def _current_heads(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


async def assert_at_head(engine: AsyncEngine) -> None:
    if set(await current_revisions(engine)) != set(head_revisions()):
        raise DatabaseNotMigratedError(NOT_MIGRATED)


async def upgrade(
    engine: AsyncEngine, revision: str = "head", *, crypto: NirCrypto | None = None
) -> None:
    """Migrate through `engine`, from inside a running event loop (demo, tests, CLI).

    `crypto`: the keys a data migration uses (else it reads them from Settings)."""
    async with engine.begin() as connection:
        await connection.run_sync(_run_alembic, command.upgrade, revision, crypto)


async def downgrade(engine: AsyncEngine, revision: str, *, crypto: NirCrypto | None = None) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_run_alembic, command.downgrade, revision, crypto)


def _run_alembic(
    connection: Connection,
    action: Callable[[Config, str], None],
    revision: str,
    crypto: NirCrypto | None,
) -> None:
    # Alembic's "connection sharing" recipe: env.py migrates on this connection instead of
    # starting its own event loop, which cannot run inside ours.
    config = alembic_config()
    config.attributes["connection"] = connection
    if crypto is not None:
        config.attributes["nir_crypto"] = crypto
    action(config, revision)
