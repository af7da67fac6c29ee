"""The executor (`storage/executor.py`): prebuilt statements on asyncpg directly (PostgreSQL) or
through a session (SQLite). Their values' processing, the driver's own transaction (never back
in the pool half done), its errors as a session would raise them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import Integer, bindparam, insert, literal_column, select, text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.ledger.store import append, head_hash, serialise
from agora_bridge.storage import executor
from agora_bridge.storage.db import is_refusal, make_engine, make_sessionmaker, upgrade
from agora_bridge.storage.executor import on_session
from agora_bridge.storage.models import EtatAgora, Livraison, Retour, UtcDateTime
from agora_bridge.storage.retours import _INSERT as EVENT_INSERT
from tests.conftest import other_backends, throwaway_pg_database
from tests.ledger.test_chain import entry

PARIS_SUMMER = timezone(timedelta(hours=2))
SECRET = "SECRET-AGORA-7"


def event_row(recorded_at: datetime, id_dossier: str = "PDL-1") -> dict[str, Any]:
    return {
        "evenement": "RETENU",
        "id_dossier": id_dossier,
        "version": 1,
        "id_agora": None,
        "statut": None,
        "code": None,
        "message": None,
        "recorded_at": recorded_at,
    }


def is_postgresql(sessions: async_sessionmaker[AsyncSession]) -> bool:
    return executor.on_driver(sessions)


async def committed(
    sessions: async_sessionmaker[AsyncSession],
    work: Callable[[executor.Transaction], Awaitable[list[Any]]],
) -> None:
    async with executor.begin(sessions) as transaction:
        await work(transaction)
        await transaction.commit()


# ---- Values in and out ---------------------------------------------------------------------


async def test_postgresql_runs_on_the_driver_and_sqlite_on_a_session(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    async with executor.begin(session_maker) as transaction:
        on_driver = isinstance(transaction, executor.DriverTransaction)
    assert on_driver == is_postgresql(session_maker)


async def test_an_instant_goes_in_as_given_and_comes_out_aware_in_utc(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    at = datetime(2026, 7, 1, 12, 30, tzinfo=PARIS_SUMMER)
    async with executor.begin(session_maker) as transaction:
        await transaction.each(EVENT_INSERT, [event_row(at)])
        found = await transaction.rows(select(Retour.recorded_at, Retour.version))
        await transaction.commit()
    assert found == [(at, 1)]
    assert found[0][0].tzinfo is UTC
    async with session_maker() as session:  # the ORM reads the same instant back
        assert await session.scalar(select(Retour.recorded_at)) == at


async def test_a_naive_datetime_is_refused_and_nothing_is_written(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    naive = event_row(datetime(2026, 7, 1, 12, 30))
    with pytest.raises((ValueError, StatementError), match="naive datetime"):
        await committed(session_maker, lambda t: t.each(EVENT_INSERT, [naive]))
    async with session_maker() as session:
        assert await session.scalar(select(Retour.id)) is None


async def test_a_value_built_into_a_statement_is_sent_with_it(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    """The ledger's head is read with `LIMIT 1`, a value SQLAlchemy binds itself."""
    async with executor.begin(session_maker) as transaction:
        first = await append(transaction, [entry(1)])
        second = await append(transaction, [entry(2)])
        assert await head_hash(transaction) == second != first
        await transaction.commit()


async def test_a_parameter_named_twice_is_one_value(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    now = bindparam("now", type_=UtcDateTime)
    statement = select(literal_column("1", Integer)).where(now < now)
    plus = select(bindparam("n", type_=Integer) + bindparam("n", type_=Integer))
    async with executor.begin(session_maker) as transaction:
        assert await transaction.rows(plus, {"n": 20}) == [(40,)]
        assert await transaction.rows(statement, {"now": datetime.now(UTC)}) == []


def test_a_statement_expanded_at_execution_is_refused_on_the_driver() -> None:
    dialect = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
    expanding = select(Livraison.id_dossier).where(
        Livraison.id_dossier.in_(bindparam("ids", expanding=True))
    )
    with pytest.raises(ValueError, match="rendered at execution"):
        executor._compile(expanding, dialect)
    with pytest.raises(ValueError, match="rendered at execution"):
        executor._compile(
            select(Livraison.id_dossier).where(Livraison.id_dossier.in_(["a"])), dialect
        )


def test_a_statement_compiled_once_is_never_mistaken_for_another() -> None:
    """Statements built for one call come and go (past the cache's size, it starts again):
    each gets its own text, never the one of a statement freed at the same address."""
    dialect = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
    for n in range(3 * executor._COMPILED_KEPT):
        compiled = executor._compile(select(literal_column(str(n))), dialect)
        assert compiled.sql == f"SELECT {n}"


# ---- The driver's transaction --------------------------------------------------------------


async def pooled_once(url: str) -> tuple[Any, async_sessionmaker[AsyncSession]]:
    """A migrated database's engine with a single connection: whatever a transaction leaves
    on it, the next one meets."""
    engine = make_engine(url, pool_size=1, max_overflow=0, ping_after_idle_s=60)
    await upgrade(engine)
    return engine, make_sessionmaker(engine)


async def seen_elsewhere(url: str) -> list[str]:
    """The events another connection sees: those committed."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            return list((await session.scalars(select(Retour.id_dossier))).all())
    finally:
        await engine.dispose()


async def a_session_writes(sessions: async_sessionmaker[AsyncSession], id_dossier: str) -> None:
    async with sessions() as session:
        await session.execute(insert(Retour), [event_row(datetime.now(UTC), id_dossier)])
        await session.commit()


Execute = Callable[..., Awaitable[Any]]


def begin_interrupted(monkeypatch: pytest.MonkeyPatch, how: str) -> tuple[asyncio.Event, Execute]:
    """asyncpg's BEGIN, `cancelled` once sent (before its answer) or `failed` before."""
    real: Execute = asyncpg.Connection.execute
    sent = asyncio.Event()

    async def execute(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        if query.startswith("BEGIN") and not sent.is_set():
            sent.set()
            if how == "failed":
                raise asyncpg.exceptions.ConnectionFailureError("connection lost")
        return await real(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "execute", execute)
    return sent, real


@pytest.mark.parametrize("how", ["cancelled", "failed"])
async def test_a_begin_that_does_not_complete_leaves_no_transaction_in_the_pool(
    monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """asyncpg counts the transaction as the connection's before BEGIN's answer: back in the
    pool, the next user's BEGIN became a SAVEPOINT in a transaction no one commits (its
    writes never visible), or failed for ever."""
    async with throwaway_pg_database() as url:
        engine, sessions = await pooled_once(url)
        try:
            sent, real = begin_interrupted(monkeypatch, how)

            async def write() -> None:
                async with executor.begin(sessions) as transaction:
                    await transaction.each(EVENT_INSERT, [event_row(datetime.now(UTC), "A")])
                    await transaction.commit()

            task = asyncio.create_task(write())
            await sent.wait()
            task.cancel()
            with pytest.raises((asyncio.CancelledError, DBAPIError)):
                await task
            monkeypatch.setattr(asyncpg.Connection, "execute", real)
            await a_session_writes(sessions, "B")
            assert await seen_elsewhere(url) == ["B"]
        finally:
            await engine.dispose()


async def test_a_statement_cancelled_mid_transaction_is_rolled_back() -> None:
    async with throwaway_pg_database() as url:
        engine, sessions = await pooled_once(url)
        try:

            async def write() -> None:
                async with executor.begin(sessions) as transaction:
                    await transaction.each(EVENT_INSERT, [event_row(datetime.now(UTC), "A")])
                    await transaction.rows(text("SELECT pg_sleep(5)"))
                    await transaction.commit()

            task = asyncio.create_task(write())
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await a_session_writes(sessions, "B")
            assert await seen_elsewhere(url) == ["B"]
        finally:
            await engine.dispose()


async def test_a_failed_commit_raises_its_own_error_and_leaves_the_connection_clean() -> None:
    """A deferred constraint fails at COMMIT: its refusal is what the caller sees (no
    rollback after it to hide it), and the connection goes on."""
    async with throwaway_pg_database() as url:
        engine, sessions = await pooled_once(url)
        try:
            async with sessions() as session:
                await session.execute(
                    text("CREATE TABLE once (k int UNIQUE DEFERRABLE INITIALLY DEFERRED)")
                )
                await session.commit()
            twice = text("INSERT INTO once VALUES (1), (1)")
            with pytest.raises(DBAPIError) as refused:
                await committed(sessions, lambda t: t.rows(twice))
            assert is_refusal(refused.value)
            assert getattr(refused.value.orig, "sqlstate", None) == "23505"
            await a_session_writes(sessions, "B")
            assert await seen_elsewhere(url) == ["B"]
        finally:
            await engine.dispose()


async def test_autocommit_statements_each_commit_alone(
    session_maker: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    async with executor.autocommit(session_maker) as statements:
        await statements.each(EVENT_INSERT, [event_row(datetime.now(UTC), "A")])
        if is_postgresql(session_maker):  # SQLite: its one writer is this connection
            assert await seen_elsewhere(database_url) == ["A"]
    await a_session_writes(session_maker, "B")
    assert sorted(await seen_elsewhere(database_url)) == ["A", "B"]


async def test_a_connection_left_inside_a_transaction_is_not_pooled() -> None:
    async with throwaway_pg_database() as url:
        engine, sessions = await pooled_once(url)
        try:
            async with executor.autocommit(sessions) as statements:
                before = await statements.rows(text("SELECT pg_backend_pid()"))
                await statements.rows(text("BEGIN"))
            async with executor.autocommit(sessions) as statements:
                assert await statements.rows(text("SELECT pg_backend_pid()")) != before
        finally:
            await engine.dispose()


# ---- Errors --------------------------------------------------------------------------------


def acknowledged(id_dossier: str) -> dict[str, Any]:
    return {
        "id_dossier": id_dossier,
        "id_agora": SECRET,
        "acquitte": {},
        "titulaire_index": "index",
        "acquitte_at": datetime.now(UTC),
    }


_ACKNOWLEDGED = insert(EtatAgora).values(
    {name: bindparam(name, type_=EtatAgora.__table__.c[name].type) for name in acknowledged("")}
)


@pytest.mark.parametrize("call", ["rows", "each"])
async def test_a_refused_statement_is_a_refusal_that_quotes_no_value(
    session_maker: async_sessionmaker[AsyncSession], call: str
) -> None:
    """A unique violation: `db.is_refusal` knows it, and its message names no value (the
    server's DETAIL quotes the key: it could be a NIR's index, a name)."""
    await committed(session_maker, lambda t: t.rows(_ACKNOWLEDGED, acknowledged("PDL-1")))
    again = acknowledged("PDL-2")

    def refused_one(t: executor.Transaction) -> Awaitable[list[Any]]:
        return t.rows(_ACKNOWLEDGED, again) if call == "rows" else t.each(_ACKNOWLEDGED, [again])

    with pytest.raises(DBAPIError) as refused:
        await committed(session_maker, refused_one)
    assert is_refusal(refused.value)
    assert SECRET not in str(refused.value)


# ---- Sessions (ingest, backfill, reconciliation) -------------------------------------------


async def test_a_sessions_ledger_lock_is_taken_once_a_transaction(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    postgresql = is_postgresql(session_maker)
    async with session_maker() as session:
        await serialise(on_session(session))
        assert on_session(session).ledger_locked == postgresql  # SQLite: no lock to take
        await session.commit()
        assert not on_session(session).ledger_locked  # the lock ended with its transaction
        await head_hash(on_session(session))
        assert not on_session(session).ledger_locked


async def test_a_transaction_whose_connection_dies_raises_the_drivers_error() -> None:
    """The server ends the connection mid-transaction: the statement fails, so does the
    rollback, and the connection is dropped; the caller sees a database error (not an
    error about the dropped connection's state), and the pool goes on with a new one."""
    async with throwaway_pg_database() as url:
        engine, sessions = await pooled_once(url)
        try:

            async def dropped(transaction: executor.Transaction) -> list[Any]:
                await transaction.each(EVENT_INSERT, [event_row(datetime.now(UTC), "A")])
                await other_backends(url, terminate=True)
                return await transaction.rows(select(Retour.id))

            with pytest.raises(DBAPIError):
                await committed(sessions, dropped)
            await a_session_writes(sessions, "B")
            assert await seen_elsewhere(url) == ["B"]
        finally:
            await engine.dispose()
