"""Group commit: attempts and outcomes of every worker, with their ledger entries, committed
together (`docs/DELIVERY.md`, "Group commit").

A worker hands the recorder a `Record` and waits for it. The recorder writes whatever has
arrived, in one transaction: each record's update of its work item fenced on its claim's
token (and, for an attempt, on a lease that still has time left), its acknowledged state,
then one ledger append for the group and one insert of its return-flow events
(`storage/retours.py`). A record whose fence fails is dropped alone (its `generation` comes
back None) and neither its entries nor its events are written. A group the database refuses
is retried record by record, so one bad record never fails the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, update
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


@dataclass(slots=True)
class _Pending:
    record: Record
    done: asyncio.Future[int | None]


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
        done: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
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
        except Exception as error:  # whatever it is, no worker may wait forever
            if not isinstance(error, SQLAlchemyError):
                log.exception("delivery.group.failed", records=len(group))
            if len(group) == 1:
                group[0].done.set_exception(error)
                return
            log.warning("delivery.group.retried", records=len(group), cause=type(error).__name__)
            for pending in group:
                await self._commit_group([pending])
            return
        for pending, generation in zip(group, results, strict=True):
            if not pending.done.done():
                pending.done.set_result(generation)

    async def _write(self, records: list[Record]) -> list[int | None]:
        async with self._write_lock, self._sessions() as session, session.begin():
            # One row-lock order for every writer; the ledger's lock comes last.
            order = sorted(range(len(records)), key=lambda i: records[i].id_dossier)
            results: list[int | None] = [None] * len(records)
            entries: list[Entry] = []
            events: list[Event] = []
            for index in order:
                results[index] = await self._apply(session, records[index])
            for record, generation in zip(records, results, strict=True):
                if generation is not None:
                    entries.extend(record.entries)
                    events.extend(record.retours)
            if entries:  # a group of records without entries needs no read of the head
                await append(session, entries)
            await retours.record(session, events)  # after the ledger's lock: one INSERT
            return results

    async def _apply(self, session: AsyncSession, record: Record) -> int | None:
        fence = [_ITEMS.c.id_dossier == record.id_dossier, _ITEMS.c.lease_owner == record.token]
        if record.lease_valid_at is not None:
            fence.append(_ITEMS.c.lease_until > record.lease_valid_at)
        # Core, not the ORM: nothing here needs the unit of work, and this runs twice a call.
        statement = (
            update(_ITEMS).where(*fence).values(record.values).returning(_ITEMS.c.generation)
        )
        generation: int | None = (await session.execute(statement)).scalar_one_or_none()
        if generation is not None and record.acquittement is not None:
            values = acknowledged.row(record.acquittement, self._crypto, now=self._clock())
            await acknowledged.store(session, record.id_dossier, values)
        return generation
