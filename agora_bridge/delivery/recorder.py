"""Group commit: attempts and outcomes of every worker, with their ledger entries, committed
together (`docs/DELIVERY.md`, "Group commit").

A worker hands the recorder a `Record` and waits for it. The recorder writes whatever has
arrived, in one transaction: each record's update of its work item fenced on its claim's
token (and, for an attempt, on a lease that still has time left), the group's acknowledged
states in one statement, then one ledger append for the group and one insert of its
return-flow events (`storage/retours.py`). A record whose fence fails is dropped alone (its
`generation` comes back None) and neither its entries nor its events are written. A group the
database refuses before its COMMIT is retried record by record, so one bad record never fails
the others. A group whose COMMIT failed is not retried: it may have been applied (the answer
to COMMIT lost with the connection), and its records, fenced on claims they keep, would pass
their fences again and append their entries and events twice. Its waiters get the error
instead; their passes end and their claims lapse, to be read back (`CommitUnknown`).

An outcome and the next call's attempt travel in one record (one statement, one commit a
call): the attempt's part then applies only while the item is still at the generation the
pass planned from and its lease still runs; the outcome's part (its events included) applies
regardless.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Table,
    Update,
    and_,
    bindparam,
    case,
    literal,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.delivery import acknowledged
from agora_bridge.delivery.acknowledged import Acquittement
from agora_bridge.ledger.chain import Entry
from agora_bridge.ledger.store import append
from agora_bridge.logs import get_logger
from agora_bridge.storage import retours
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.models import Livraison
from agora_bridge.storage.retours import Event

log = get_logger(__name__)
_ITEMS = cast(Table, Livraison.__table__)
# A group holds at most this many records: a transaction stays short.
_MAX_GROUP = 256


class CommitUnknown(Exception):
    """The group's COMMIT failed: whether it applied is unknown, so it is never retried."""


class RunRefused(SQLAlchemyError):
    """The database refused a pipelined run of records (`_pipelined`): the driver's error,
    handled as SQLAlchemy's (the group is retried record by record)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """A call about to leave, riding on a record that carries the previous call's outcome:
    applied only if the item is still at `generation` and its lease runs at `valid_at`."""

    values: dict[str, Any]  # the columns of `livraison` to set, `lease_until` among them
    entry: Entry
    generation: int
    valid_at: datetime


@dataclass(frozen=True, slots=True)
class Written:
    generation: int
    attempted: bool  # the record's `attempt` was applied (and its entry appended)


@dataclass(slots=True)
class Record:
    """One fact about one claimed work item, to commit before the worker goes on."""

    id_dossier: str
    token: str
    values: dict[str, Any]  # the columns of `livraison` to set
    entries: list[Entry] = field(default_factory=list)
    acquittement: Acquittement | None = None
    lease_valid_at: datetime | None = None  # an attempt: the lease must outlast the call
    retours: list[Event] = field(default_factory=list)  # what the return flow reports
    attempt: Attempt | None = None


@dataclass(slots=True)
class _Pending:
    record: Record
    done: asyncio.Future[Written | None]


class Recorder:
    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        crypto: NirCrypto,
        clock: Callable[[], datetime],
        *,
        write_lock: asyncio.Lock | None = None,
    ) -> None:
        self._sessions = session_maker
        self._write_lock = write_lock or asyncio.Lock()
        self._crypto = crypto
        self._clock = clock
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Recorder:
        self._task = asyncio.create_task(self._run(), name="delivery-recorder")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def commit(self, record: Record) -> int | None:
        """The item's generation once `record` is durable; None when its fence failed."""
        written = await self.write(record)
        return None if written is None else written.generation

    async def write(self, record: Record) -> Written | None:
        """Once `record` is durable: the item's generation and whether its attempt applied;
        None when its fence failed."""
        done: asyncio.Future[Written | None] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(record, done))
        return await done

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            while not self._queue.empty() and len(group) < _MAX_GROUP:
                group.append(self._queue.get_nowait())
            await self._commit_group(group)

    async def _commit_group(self, group: list[_Pending]) -> None:
        try:
            results = await self._write([pending.record for pending in group])
        except CommitUnknown as error:
            log.error("delivery.group.commit_unknown", records=len(group), cause=error.args[0])
            for pending in group:
                _fail(pending, error)
            return
        except Exception as error:  # whatever it is, no worker may wait forever
            if not isinstance(error, SQLAlchemyError):
                log.exception("delivery.group.failed", records=len(group))
            if len(group) == 1:
                _fail(group[0], error)
                return
            log.warning("delivery.group.retried", records=len(group), cause=type(error).__name__)
            for pending in group:
                await self._commit_group([pending])
            return
        for pending, written in zip(group, results, strict=True):
            if not pending.done.done():
                pending.done.set_result(written)

    async def _write(self, records: list[Record]) -> list[Written | None]:
        # Encoded before the transaction: it holds row locks (on SQLite, the write lock).
        now = self._clock()
        states = {
            record.id_dossier: acknowledged.row(record.acquittement, self._crypto, now=now)
            for record in records
            if record.acquittement is not None
        }
        committing = False
        try:
            async with self._write_lock, self._sessions() as session:
                results = await _statements(session, records, states)
                committing = True
                await session.commit()
        except Exception as error:
            if committing:  # COMMIT failed, or closing after it: applied or not, unknown
                raise CommitUnknown(type(error).__name__) from error
            raise
        return results


def _fail(pending: _Pending, error: Exception) -> None:
    # A waiter cancelled meanwhile left its future cancelled: setting it would raise and end
    # the recorder's task, and every later write would wait for ever.
    if not pending.done.done():
        pending.done.set_exception(error)


async def _statements(
    session: AsyncSession, records: list[Record], states: dict[str, dict[str, Any]]
) -> list[Written | None]:
    """The group's writes, in the session's transaction (the caller commits); `states`, the
    acknowledged states' rows by dossier."""
    # One row-lock order for every writer; the ledger's lock comes last.
    order = sorted(range(len(records)), key=lambda i: records[i].id_dossier)
    applied = await _apply_all(session, [records[i] for i in order])
    results: list[Written | None] = [None] * len(records)
    for index, result in zip(order, applied, strict=True):
        results[index] = result
    rows: dict[str, dict[str, Any]] = {}
    entries: list[Entry] = []
    events: list[Event] = []
    for record, written in zip(records, results, strict=True):
        if written is None:
            continue
        if record.id_dossier in states:
            rows[record.id_dossier] = {"id_dossier": record.id_dossier, **states[record.id_dossier]}
        entries.extend(record.entries)
        events.extend(record.retours)
        if written.attempted and record.attempt is not None:
            entries.append(record.attempt.entry)
    await acknowledged.store_all(session, list(rows.values()))
    if entries:  # a group of records without entries needs no read of the head
        await append(session, entries)
    await retours.record(session, events)  # after the ledger's lock: one INSERT
    return results


@dataclass(frozen=True, slots=True)
class IfCurrent:
    """A column's value while the item is still at `generation` (no newer snapshot came since
    the pass planned), `otherwise` if not: a terminal state must not close newer work."""

    value: Any
    generation: int
    otherwise: Any = None


# The statement of each shape of record, built and compiled once (a record's values go as
# bind parameters): building a statement per record was most of the recorder's CPU.
_Shape = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], bool]
_STATEMENTS: dict[_Shape, Update] = {}


async def _apply_all(session: AsyncSession, records: list[Record]) -> list[Written | None]:
    """Each record's update, in the order given (the row-lock order). On PostgreSQL a run of
    consecutive records of one shape goes as one pipelined round trip (`_pipelined`): the
    same statement, row by row, so each row keeps its own fence and conditions."""
    if session.get_bind().dialect.name != "postgresql":  # SQLite: a statement is no round trip
        return [await _apply(session, record) for record in records]
    results: list[Written | None] = []
    start = 0
    while start < len(records):
        shape = _shape_of(records[start])
        end = start + 1
        while end < len(records) and shape is not None and _shape_of(records[end]) == shape:
            end += 1
        run = records[start:end]
        pipelined = await _pipelined(session, run) if shape is not None and len(run) > 1 else None
        if pipelined is None:
            pipelined = [await _apply(session, record) for record in run]
        results.extend(pipelined)
        start = end
    return results


def _shape_of(record: Record) -> _Shape | None:
    """The shape of a record whose statement is cached; None for one built alone."""
    if any(isinstance(value, ClauseElement) for value in record.values.values()):
        return None
    plain = tuple(k for k, v in record.values.items() if not isinstance(v, IfCurrent))
    current = tuple(k for k, v in record.values.items() if isinstance(v, IfCurrent))
    attempted = tuple(record.attempt.values) if record.attempt is not None else ()
    return (plain, current, attempted, record.lease_valid_at is not None)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A shape's statement as PostgreSQL's driver takes it: its text, and for each positional
    parameter its name and the type's bind processing (`UtcDateTime`'s check and UTC)."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]


_COMPILED: dict[_Shape, _Compiled] = {}


async def _pipelined(session: AsyncSession, run: list[Record]) -> list[Written | None] | None:
    """Records of one shape through asyncpg's `fetchmany`: the statement once per record,
    pipelined, in the session's transaction. None where that is not possible (SQLite, where
    a statement costs no round trip; no transaction open on the driver; a dossier twice)."""
    connection = await session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql" or len({r.id_dossier for r in run}) < len(run):
        return None
    driver: Any = (await connection.get_raw_connection()).driver_connection
    first: list[Written | None] = []
    if not driver.is_in_transaction():  # the transaction's BEGIN comes with its first statement
        first, run = [await _apply(session, run[0])], run[1:]
        if not driver.is_in_transaction():  # never: asyncpg would run them outside it
            return first + [await _apply(session, record) for record in run]
    compiled = _compiled(run[0], dialect)
    arguments = []
    for record in run:
        params = _prepared(record)[1]
        arguments.append(
            tuple(
                params[name] if process is None else process(params[name])
                for name, process in zip(compiled.names, compiled.processors, strict=True)
            )
        )
    try:
        rows = await driver.fetchmany(compiled.sql, arguments)
    except Exception as error:  # the driver's own: as SQLAlchemy's would be (no traceback)
        raise RunRefused(type(error).__name__) from error
    # A failed fence returns no row: the rows are matched to their records by dossier.
    found = {row[2]: (row[0], row[1]) for row in rows}
    return first + [
        _written(r, *found[r.id_dossier]) if r.id_dossier in found else None for r in run
    ]


def _compiled(record: Record, dialect: Dialect) -> _Compiled:
    statement, _ = _prepared(record)
    shape = _shape_of(record)
    assert shape is not None
    cached = _COMPILED.get(shape)
    if cached is None:
        compiled = statement.returning(_ITEMS.c.id_dossier).compile(dialect=dialect)
        names = tuple(compiled.positiontup or ())
        processors = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in names
        )
        cached = _COMPILED[shape] = _Compiled(compiled.string, names, processors)
    return cached


async def _apply(session: AsyncSession, record: Record) -> Written | None:
    values = record.values
    if any(isinstance(value, ClauseElement) for value in values.values()):
        statement, params = _built(record), None  # an expression (attempts + 1): rare
    else:
        statement, params = _prepared(record)
    row = (await session.execute(statement, params)).one_or_none()
    if row is None:
        return None
    return _written(record, *row)


def _written(record: Record, generation: int, lease_until: datetime | None) -> Written:
    attempt = record.attempt
    # The attempt applied iff its condition held: then the generation is the one it expects
    # and the lease is the new one (after `valid_at`); else one of the two says it did not.
    attempted = (
        attempt is not None
        and generation == attempt.generation
        and lease_until is not None
        and lease_until > attempt.valid_at
    )
    return Written(generation, attempted)


def _prepared(record: Record) -> tuple[Update, dict[str, Any]]:
    """The record's cached statement and its parameters."""
    shape = _shape_of(record)
    assert shape is not None  # no SQL expression among its values
    plain, current, _, _ = shape
    statement = _STATEMENTS.get(shape)
    if statement is None:
        statement = _STATEMENTS[shape] = _statement(*shape)
    params: dict[str, Any] = {"f_id": record.id_dossier, "f_token": record.token}
    if record.lease_valid_at is not None:
        params["f_valid"] = record.lease_valid_at
    for key in plain:
        params[f"v_{key}"] = record.values[key]
    for key in current:
        value = record.values[key]
        params |= {f"v_{key}": value.value, f"g_{key}": value.generation}
        params[f"o_{key}"] = value.otherwise
    if record.attempt is not None:
        params |= {"a_gen": record.attempt.generation, "a_valid": record.attempt.valid_at}
        params |= {f"a_{key}": value for key, value in record.attempt.values.items()}
    return statement, params


def _statement(
    plain: tuple[str, ...], current: tuple[str, ...], attempted: tuple[str, ...], leased: bool
) -> Update:
    """UPDATE … SET … WHERE (the claim's fence) RETURNING generation, lease_until; every
    value a bind parameter named after its column (v_, o_, g_, a_: plain, otherwise,
    generation, attempt)."""
    c = _ITEMS.c
    fence = [c.id_dossier == bindparam("f_id"), c.lease_owner == bindparam("f_token")]
    if leased:
        fence.append(c.lease_until > bindparam("f_valid", type_=c.lease_until.type))
    values: dict[str, ColumnElement[Any]] = {
        key: bindparam(f"v_{key}", type_=c[key].type) for key in plain
    }
    for key in current:
        same = c.generation == bindparam(f"g_{key}", type_=c.generation.type)
        chosen = bindparam(f"v_{key}", type_=c[key].type)
        values[key] = case((same, chosen), else_=bindparam(f"o_{key}", type_=c[key].type))
    if attempted:
        # Each of the attempt's columns set only if its condition holds (SET reads the old row).
        holds = and_(
            c.generation == bindparam("a_gen", type_=c.generation.type),
            c.lease_until > bindparam("a_valid", type_=c.lease_until.type),
        )
        for key in attempted:
            chosen = bindparam(f"a_{key}", type_=c[key].type)
            values[key] = case((holds, chosen), else_=values.get(key, c[key]))
    return update(_ITEMS).where(*fence).values(values).returning(c.generation, c.lease_until)


def _built(record: Record) -> Update:
    """A record whose values hold SQL expressions: its statement built for it alone."""
    fence = [_ITEMS.c.id_dossier == record.id_dossier, _ITEMS.c.lease_owner == record.token]
    if record.lease_valid_at is not None:
        fence.append(_ITEMS.c.lease_until > record.lease_valid_at)
    values = {key: _expression(value) for key, value in record.values.items()}
    if record.attempt is not None:
        values |= _conditional(record.attempt, values)
    return (
        update(_ITEMS)
        .where(*fence)
        .values(values)
        .returning(_ITEMS.c.generation, _ITEMS.c.lease_until)
    )


def _expression(value: Any) -> Any:
    if not isinstance(value, IfCurrent):
        return value
    same = _ITEMS.c.generation == value.generation
    return case((same, value.value), else_=value.otherwise)


def _conditional(attempt: Attempt, values: dict[str, Any]) -> dict[str, ColumnElement[Any]]:
    """The attempt's columns, each set only if its condition holds (SET reads the old row)."""
    holds = and_(_ITEMS.c.generation == attempt.generation, _ITEMS.c.lease_until > attempt.valid_at)
    return {
        column: case(
            (holds, literal(value, _ITEMS.c[column].type)),
            else_=values.get(column, _ITEMS.c[column]),
        )
        for column, value in attempt.values.items()
    }
