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
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.delivery import acknowledged
from agora_bridge.delivery.acknowledged import Acquittement
from agora_bridge.ledger.chain import Entry
from agora_bridge.ledger.store import append
from agora_bridge.logs import get_logger
from agora_bridge.storage import executor, retours
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.executor import Executor
from agora_bridge.storage.models import Livraison
from agora_bridge.storage.retours import Event

log = get_logger(__name__)
_ITEMS = cast(Table, Livraison.__table__)
# A group holds at most this many records: a transaction stays short.
_MAX_GROUP = 256
# What a record's update returns: its rows are matched to the records by dossier.
_RETURNED = (_ITEMS.c.generation, _ITEMS.c.lease_until, _ITEMS.c.id_dossier)


class CommitUnknown(Exception):
    """The group's COMMIT failed: whether it applied is unknown, so it is never retried."""


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
            async with self._write_lock, executor.begin(self._sessions) as transaction:
                results = await _statements(transaction, records, states)
                committing = True
                await transaction.commit()
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
    transaction: Executor, records: list[Record], states: dict[str, dict[str, Any]]
) -> list[Written | None]:
    """The group's writes, in the caller's transaction (it commits); `states`, the
    acknowledged states' rows by dossier."""
    # One row-lock order for every writer; the ledger's lock comes last.
    order = sorted(range(len(records)), key=lambda i: records[i].id_dossier)
    applied = await _apply_all(transaction, [records[i] for i in order])
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
    await acknowledged.store_all(transaction, list(rows.values()))
    if entries:  # a group of records without entries needs no read of the head
        await append(transaction, entries)
    await retours.record(transaction, events)  # after the ledger's lock: one INSERT
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


async def _apply_all(transaction: Executor, records: list[Record]) -> list[Written | None]:
    """Each record's update, in the order given (the row-lock order). A run of consecutive
    records of one shape is one statement with a parameter set a record (on PostgreSQL one
    pipelined round trip), each row keeping its own fence and conditions; a failed fence
    returns no row, so rows are matched to records by dossier (a run never holds one twice)."""
    results: list[Written | None] = []
    start = 0
    while start < len(records):
        shape, end = _shape_of(records[start]), start + 1
        if shape is None:  # SQL expressions among its values: a statement of its own
            rows = await transaction.rows(_built(records[start]))
        else:
            keys = {records[start].id_dossier}
            while (
                end < len(records)
                and _shape_of(records[end]) == shape
                and records[end].id_dossier not in keys
            ):
                keys.add(records[end].id_dossier)
                end += 1
            run = records[start:end]
            rows = await transaction.each(_cached(shape), [_params(record) for record in run])
        found = {row[2]: (row[0], row[1]) for row in rows}
        for record in records[start:end]:
            written = found.get(record.id_dossier)
            results.append(None if written is None else _written(record, *written))
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


def _cached(shape: _Shape) -> Update:
    statement = _STATEMENTS.get(shape)
    if statement is None:
        statement = _STATEMENTS[shape] = _statement(*shape)
    return statement


def _params(record: Record) -> dict[str, Any]:
    """The parameters of the record's cached statement (`_statement`)."""
    params: dict[str, Any] = {"f_id": record.id_dossier, "f_token": record.token}
    if record.lease_valid_at is not None:
        params["f_valid"] = record.lease_valid_at
    for key, value in record.values.items():
        if isinstance(value, IfCurrent):
            params |= {f"v_{key}": value.value, f"g_{key}": value.generation}
            params[f"o_{key}"] = value.otherwise
        else:
            params[f"v_{key}"] = value
    if record.attempt is not None:
        params |= {"a_gen": record.attempt.generation, "a_valid": record.attempt.valid_at}
        params |= {f"a_{key}": value for key, value in record.attempt.values.items()}
    return params


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
    return update(_ITEMS).where(*fence).values(values).returning(*_RETURNED)


def _built(record: Record) -> Update:
    """A record whose values hold SQL expressions: its statement built for it alone."""
    fence = [_ITEMS.c.id_dossier == record.id_dossier, _ITEMS.c.lease_owner == record.token]
    if record.lease_valid_at is not None:
        fence.append(_ITEMS.c.lease_until > record.lease_valid_at)
    values = {key: _expression(value) for key, value in record.values.items()}
    if record.attempt is not None:
        values |= _conditional(record.attempt, values)
    return update(_ITEMS).where(*fence).values(values).returning(*_RETURNED)


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
