"""The backfill of one file, from wherever its last run stopped (`docs/BACKFILL.md`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.agora.client import AgoraClient
from agora_bridge.agora.errors import AgoraPermanentError
from agora_bridge.backfill import lots, outcomes
from agora_bridge.backfill.building import Builder, ReadingRules
from agora_bridge.backfill.lots import Pacing
from agora_bridge.backfill.packing import Lot, Packer, last_numero, pack_next, unfinished
from agora_bridge.backfill.reprise import (
    Progress,
    Reading,
    finish,
    finish_reading,
    marker,
    open_reprise,
)
from agora_bridge.backfill.single import only_backfill
from agora_bridge.logs import get_logger
from agora_bridge.snapshots.perimeter import Perimeter
from agora_bridge.snapshots.reader import read_lines
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.ingest import Ingestion, ingest_parsed
from agora_bridge.storage.models import Livraison

log = get_logger(__name__)


@dataclass(frozen=True)
class Options:
    since: date
    lot_size: int
    code_financeur: str
    perimeter: Perimeter
    in_flight: int = 3  # lots on AGORA at once
    # Lines stored per transaction; a crash loses at most one batch. 5,000 saved ~6 % of the
    # CPU but the reading's memory then grew with the file (SQLite, 300,000 lines: 195 to 265
    # MiB, where 1,000 stays at ~200; peak 376 against 344 MiB): 1,000, for the 400 MB ceiling.
    batch_size: int = 1000
    # Processes building lot lines (`building.py`); 0: in this process.
    workers: int = 0
    pacing: Pacing = field(default_factory=Pacing)


class Observer:
    """What a progress display hears; does nothing by default."""

    def line_read(self, size: int) -> None:
        """A line of `size` bytes was read (or skipped: done by an earlier run)."""

    def delivering(self, lines: int) -> None:
        """Reading is over: `lines` dossiers are to go in lots (or are in unfinished ones)."""

    def lot_started(self, lot: Lot) -> None:
        pass

    def lot_done(self, lot: Lot, resultats: dict[str, Any]) -> None:
        pass


@dataclass(frozen=True)
class Backfill:
    sessions: async_sessionmaker[AsyncSession]
    client: AgoraClient
    crypto: NirCrypto
    options: Options
    today: date
    clock: Callable[[], datetime]
    observer: Observer = field(default_factory=Observer)
    # Every write of the delivery phase, in turns: SQLite has one writer.
    _write: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def run(self, path: Path) -> Progress:
        """BackfillRunningError when another backfill runs on the database (`single.py`)."""
        engine = self.sessions.kw["bind"]
        async with only_backfill(engine):
            async with self.sessions() as session, session.begin():
                since, now = self.options.since, self.clock()
                progress = await open_reprise(session, path, since=since, now=now)
            options = self.options
            builder = Builder(self.crypto, options.code_financeur, options.workers)
            try:
                if not progress.lecture_finie:
                    await self._read(path, progress, builder)
                if not progress.termine:
                    await self._deliver(progress, builder)
            finally:
                builder.close()
        return progress

    # ---- Reading -------------------------------------------------------------------------

    async def _read(self, path: Path, progress: Progress, builder: Builder) -> None:
        ingestion = Ingestion(
            today=self.today,
            now=self.clock(),
            perimeter=self.options.perimeter,
            crypto=self.crypto,
            since=progress.since,
        )
        lines = self._unread(read_lines(path), progress.lignes_lues)
        reading = ReadingRules(ingestion.today, ingestion.perimeter, ingestion.since)
        await ingest_parsed(
            self.sessions,
            builder.read(lines, reading),
            ingestion,
            batch_size=self.options.batch_size,
            then=Reading(progress),
        )
        async with self.sessions() as session, session.begin():
            await finish_reading(session, progress, now=self.clock())
        log.info("backfill.read", lignes=progress.lignes_lues)

    def _unread(self, lines: Iterator[tuple[int, bytes]], done: int) -> Iterator[tuple[int, bytes]]:
        for number, line in lines:
            self.observer.line_read(len(line) + 1)
            if number > done:
                yield number, line

    # ---- Lots ----------------------------------------------------------------------------

    async def _deliver(self, progress: Progress, builder: Builder) -> None:
        async with self.sessions() as session:
            pending = await unfinished(session, progress, self.crypto)
            numero = await last_numero(session, progress)
            self.observer.delivering(await _to_deliver(session, progress, pending))
        queue: asyncio.Queue[Lot | None] = asyncio.Queue(maxsize=1)
        packer = Packer(builder, self.options.lot_size)
        async with asyncio.TaskGroup() as group:
            workers = [
                group.create_task(self._worker(queue)) for _ in range(self.options.in_flight)
            ]
            for restored in pending:
                await queue.put(restored)
            while (packed := await self._pack(progress, packer, numero + 1)) is not None:
                numero += 1
                await queue.put(packed)
            for _ in workers:
                await queue.put(None)
        async with self.sessions() as session, session.begin():
            await finish(session, progress, now=self.clock())
        log.info("backfill.done", reprise=progress.id, lots=numero)

    async def _pack(self, progress: Progress, packer: Packer, numero: int) -> Lot | None:
        now = self.clock()
        return await pack_next(self.sessions, self._write, progress, packer, numero=numero, now=now)

    async def _worker(self, queue: asyncio.Queue[Lot | None]) -> None:
        while (lot := await queue.get()) is not None:
            self.observer.lot_started(lot)
            await self._one_lot(lot)

    async def _one_lot(self, lot: Lot) -> None:
        pacing = self.options.pacing
        try:
            if lot.id_lot is None:
                id_lot = await lots.deposit(self.client, lot, pacing)
                async with self._write, self.sessions() as session, session.begin():
                    await outcomes.deposited(session, lot, id_lot, now=self.clock())
                lot.id_lot = id_lot
                if lot.acks is not None:
                    lot.body = b""  # AGORA has it: only the states are needed now (memory)
            lines = await lots.compte_rendu(self.client, lot.id_lot, pacing)
        except AgoraPermanentError as error:
            log.warning("backfill.lot.refused", numero=lot.numero, code=error.code)
            async with self._write, self.sessions() as session, session.begin():
                await outcomes.refused(session, lot, error.code, now=self.clock())
            self.observer.lot_done(lot, {outcomes.A_REPRENDRE: len(lot.dossiers)})
            return
        decided = outcomes.decide(lot, lines)
        now = self.clock()
        states = outcomes.acknowledged_rows(lot, decided, self.crypto, now=now)
        async with self._write, self.sessions() as session, session.begin():
            await outcomes.record(session, lot, decided, states, now=now)
        resultats = outcomes.summary(decided)
        log.info("backfill.lot.done", numero=lot.numero, id_lot=lot.id_lot, **_flat(resultats))
        self.observer.lot_done(lot, resultats)


def _flat(resultats: dict[str, Any]) -> dict[str, int]:
    rejected = resultats.get(outcomes.REJETE, {})
    return {k: v for k, v in resultats.items() if isinstance(v, int)} | {
        "REJETE": sum(rejected.values())
    }


async def _to_deliver(session: AsyncSession, progress: Progress, pending: list[Lot]) -> int:
    keys = [lot.cle for lot in pending]
    waiting = or_(Livraison.lot_id == marker(progress.id), Livraison.lot_id.in_(keys))
    count = await session.scalar(select(func.count()).select_from(Livraison).where(waiting))
    return count or 0
