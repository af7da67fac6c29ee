"""Prebuilt Core statements run in one transaction: on PostgreSQL straight on asyncpg, through
the session elsewhere.

A statement through SQLAlchemy's asyncio session costs 110–170 µs of CPU more than asyncpg
alone, round trip included (`bench.statement_overhead`): its greenlet, the adapted cursor and
the ORM's execution. The sync engine's hot path (claims, a pass's load, the group commit: about
eight statements a group) is made of a few statements built once, so on PostgreSQL it compiles
each once and hands asyncpg its text and positional values itself, with the column types' own
bind and result processing. The other paths (ingest, backfill, the API) keep their session;
the functions they share with the engine (the ledger's append, the return flow's record, the
acknowledged states' upsert) take an `Executor`, and a session becomes one with `on_session`.

`DriverTransaction` owns its asyncpg transaction: SQLAlchemy's connection never begins one
of its own, so when the connection goes back to the pool its reset (a rollback of the
adapter's transaction) has nothing to do. A transaction left open by an error, a cancellation
or a failed rollback invalidates the connection instead of returning it to the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ClauseElement

Row = Sequence[Any]
Params = Mapping[str, Any]
# The session's info key naming the transaction that holds the ledger's lock.
_LOCKED_IN = "ledger_locked_in"


class Executor(Protocol):
    """Statements in one transaction (the caller's), their rows as tuples."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def ledger_locked(self) -> bool:
        """The ledger's lock is held until this transaction ends (`ledger/store.py`)."""
        ...

    def lock_taken(self) -> None: ...

    async def rows(self, statement: Executable, params: Params | None = None) -> list[Row]:
        """Run `statement` once; its rows."""
        ...

    async def each(self, statement: Executable, params: Sequence[Params]) -> list[Row]:
        """Run `statement` once per parameter set, in order; every row they return."""
        ...


@dataclass(slots=True)
class SessionExecutor:
    """An `Executor` on an `AsyncSession`'s transaction (the session commits)."""

    session: AsyncSession

    @property
    def dialect(self) -> Dialect:
        return self.session.get_bind().dialect

    @property
    def ledger_locked(self) -> bool:
        transaction = self.session.sync_session.get_transaction()
        return transaction is not None and self.session.info.get(_LOCKED_IN) is transaction

    def lock_taken(self) -> None:
        self.session.info[_LOCKED_IN] = self.session.sync_session.get_transaction()

    async def rows(self, statement: Executable, params: Params | None = None) -> list[Row]:
        result = await self.session.execute(statement, params)
        return list(result.all()) if _returns_rows(statement) else []

    async def each(self, statement: Executable, params: Sequence[Params]) -> list[Row]:
        if not params:  # no parameter set: nothing to run (an empty executemany would run once)
            return []
        if not _returns_rows(statement):
            await self.session.execute(statement, list(params))  # executemany
            return []
        found: list[Row] = []
        for one in params:
            found += await self.rows(statement, one)
        return found


def on_session(session: AsyncSession) -> SessionExecutor:
    return SessionExecutor(session)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement as asyncpg takes it: its text, for each positional parameter its name
    and its type's bind processing, for each column its type's result processing."""

    sql: str
    names: tuple[str, ...]
    binds: tuple[Callable[[Any], Any] | None, ...]
    results: tuple[Callable[[Any], Any] | None, ...]
    built_in: dict[str, Any]  # the values built into the statement (`LIMIT 1`'s 1), by name

    def arguments(self, params: Params | None) -> list[Any]:
        if params is None or not params.keys() >= self.built_in.keys():
            params = {**self.built_in, **(params or {})}
        return [
            params[name] if bind is None else bind(params[name])
            for name, bind in zip(self.names, self.binds, strict=True)
        ]

    def row(self, raw: Sequence[Any]) -> Row:
        if not any(self.results):
            return tuple(raw)
        return tuple(
            value if result is None else result(value)
            for value, result in zip(raw, self.results, strict=True)
        )


# By statement: the engine's are built once (module constants) and compiled once each. A
# statement built for one call (a rare record with SQL expressions among its values) would
# stay here for nothing: the cache starts again past this size.
_COMPILED: dict[int, tuple[ClauseElement, _Compiled]] = {}
_COMPILED_KEPT = 256


def _compile(statement: ClauseElement, dialect: Dialect) -> _Compiled:
    cached = _COMPILED.get(id(statement))
    if cached is not None and cached[0] is statement:
        return cached[1]
    compiled: Any = statement.compile(dialect=dialect)
    if compiled.literal_execute_params or compiled.post_compile_params:
        # An expanding IN or a literal rendered at execution: SQLAlchemy's job, not ours.
        raise ValueError("a statement with parameters rendered at execution cannot be prebuilt")
    names = tuple(compiled.positiontup or ())
    binds = tuple(
        compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    )
    results = tuple(
        column[3].dialect_impl(dialect).result_processor(dialect, None)
        for column in compiled._result_columns
    )
    built_in = {
        name: compiled.binds[name].effective_value
        for name in names
        if not compiled.binds[name].required
    }
    prepared = _Compiled(compiled.string, names, binds, results, built_in)
    if len(_COMPILED) >= _COMPILED_KEPT:
        _COMPILED.clear()
    _COMPILED[id(statement)] = (statement, prepared)
    return prepared


def _returns_rows(statement: Executable) -> bool:
    return bool(getattr(statement, "_returning", None)) or getattr(statement, "is_select", False)


class DriverTransaction:
    """An `Executor` on an asyncpg connection's own transaction; `commit()` ends it."""

    def __init__(self, driver: Any, dialect: Dialect) -> None:
        self._driver = driver
        self._dialect = dialect
        self._locked = False

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    @property
    def ledger_locked(self) -> bool:
        return self._locked

    def lock_taken(self) -> None:
        self._locked = True

    async def rows(self, statement: Executable, params: Params | None = None) -> list[Row]:
        assert isinstance(statement, ClauseElement)
        compiled = _compile(statement, self._dialect)
        arguments = compiled.arguments(params)
        fetched = self._driver.fetch(compiled.sql, *arguments)
        raw = await _driver_call(compiled.sql, fetched, self._dialect)
        return [compiled.row(record) for record in raw]

    async def each(self, statement: Executable, params: Sequence[Params]) -> list[Row]:
        """Pipelined: every parameter set in one round trip (asyncpg's `fetchmany`)."""
        assert isinstance(statement, ClauseElement)
        if not params:
            return []
        compiled = _compile(statement, self._dialect)
        arguments = [compiled.arguments(one) for one in params]
        fetched = self._driver.fetchmany(compiled.sql, arguments)
        raw = await _driver_call(compiled.sql, fetched, self._dialect)
        return [compiled.row(record) for record in raw]


async def _driver_call(sql: str, call: Any, dialect: Dialect) -> Any:
    """asyncpg's errors as SQLAlchemy's, as a session would raise them (`db.is_refusal`
    reads their SQLSTATE); their parameters never in the message."""
    try:
        return await call
    except Exception as error:
        if type(error).__module__.startswith("asyncpg"):
            raise DBAPIError.instance(
                sql,
                None,
                _translated(error, dialect),
                dialect.loaded_dbapi.Error,
                hide_parameters=True,
                dialect=dialect,
            ) from error
        raise


def _translated(error: Exception, dialect: Dialect) -> Exception:
    """The error as SQLAlchemy's asyncpg adapter raises it: its SQLSTATE, its first line
    alone. asyncpg's own text adds the server's DETAIL, which quotes values (a unique key, a
    whole failing row: names, ciphertexts)."""
    dbapi = dialect.loaded_dbapi
    translations = dbapi._asyncpg_error_translate
    kind = next((k for k in type(error).__mro__ if k in translations), None)
    message = str(error.args[0]) if error.args else type(error).__name__
    return translations[kind](message, error) if kind is not None else dbapi.Error(message, error)


def _engine(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    bind = sessions.kw.get("bind")
    assert isinstance(bind, AsyncEngine)
    return bind


def on_driver(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """Whether `begin` and `autocommit` run on asyncpg (PostgreSQL) or on a session."""
    return _engine(sessions).dialect.name == "postgresql"


class Transaction(Executor, Protocol):
    async def commit(self) -> None: ...


@dataclass(slots=True)
class _SessionTransaction(SessionExecutor):
    async def commit(self) -> None:
        await self.session.commit()


@asynccontextmanager
async def begin(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Transaction]:
    """A transaction the caller ends with `commit()`; rolled back if it does not."""
    if not on_driver(sessions):
        async with sessions() as session:
            yield _SessionTransaction(session)
        return
    async with _driver_connection(sessions) as (connection, driver):
        transaction = driver.transaction()
        try:
            await _driver_call("BEGIN", transaction.start(), connection.dialect)
        except BaseException:
            # asyncpg counts the transaction as the connection's before BEGIN's answer, and
            # still does when BEGIN fails or is cancelled (it may yet apply): back in the pool,
            # the next user's BEGIN would be a SAVEPOINT in a transaction no one commits.
            await connection.invalidate()
            raise
        executor = _DriverCommit(driver, connection.dialect, transaction)
        try:
            yield executor
        finally:
            if not executor.ended:
                await _rolled_back(connection, transaction)


class _DriverCommit(DriverTransaction):
    def __init__(self, driver: Any, dialect: Dialect, transaction: Any) -> None:
        super().__init__(driver, dialect)
        self._transaction = transaction
        self.ended = False

    async def commit(self) -> None:
        self.ended = True  # applied or not, it is over: never rolled back after COMMIT
        await _driver_call("COMMIT", self._transaction.commit(), self.dialect)


async def _rolled_back(connection: AsyncConnection, transaction: Any) -> None:
    """Roll back; a connection that cannot (broken, or the rollback cancelled) is not reused.
    Closing it ends its transaction all the same: a failed rollback's error would only hide
    the caller's (why it rolls back), so it is dropped; a cancellation goes on."""
    try:
        await asyncio.shield(transaction.rollback())
    except Exception:
        await connection.invalidate()
    except BaseException:
        await connection.invalidate()
        raise


@asynccontextmanager
async def autocommit(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Executor]:
    """Statements that each commit alone (PostgreSQL: no BEGIN nor COMMIT round trip)."""
    if not on_driver(sessions):
        async with sessions() as session:
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield SessionExecutor(session)
        return
    async with _driver_connection(sessions) as (connection, driver):
        yield DriverTransaction(driver, connection.dialect)


@asynccontextmanager
async def _driver_connection(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[tuple[AsyncConnection, Any]]:
    async with _engine(sessions).connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        try:
            yield connection, driver
        finally:
            # An invalidated connection is closed already (asyncpg's then has no protocol).
            if not connection.invalidated and driver is not None and driver.is_in_transaction():
                # Never back to the pool inside a transaction (a cancelled statement).
                await connection.invalidate()
