"""Packing the set-aside dossiers into lots of their final state, each recorded before it
leaves: its key (the SHA-256 of its body), its lines → dossiers, its body encrypted.

A lot is packed once the whole file is read, from the newest stored snapshot of each dossier:
a version later in the file is never overtaken by a lot. The lines are built by `building`
(in a pool of processes when asked). What the planner would hold (a step
AGORA would refuse) and what is no longer sendable go back to the engine, which holds them
visibly.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.agora.mapping import from_lot_line
from agora_bridge.backfill.building import Ack, Builder, Built, Result, StoredRow, ack
from agora_bridge.backfill.reprise import Counts, Progress, marker, save_counts
from agora_bridge.ledger.chain import Entry
from agora_bridge.ledger.store import append
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.db import reading
from agora_bridge.storage.executor import on_session
from agora_bridge.storage.models import Dossier, Livraison, LotReprise

# AGORA's limits of a lot (`agora-v2.md`).
MAX_LINES = 10_000
MAX_BYTES = 16 * 1024 * 1024
PRET, DEPOSE, TRAITE, REFUSE = "PRET", "DEPOSE", "TRAITE", "REFUSE"
_ITEMS = cast(Table, Livraison.__table__)


@dataclass
class Lot:
    cle: str  # the Idempotency-Key: SHA-256 of the body, hex
    numero: int
    body: bytes
    # Line n (from 1) is dossiers[n - 1]: (id_dossier, generation of its work item, version).
    dossiers: list[tuple[str, int, int]]
    request_id: str
    id_lot: str | None = None
    # Each line's acknowledged state, when packed by this process (else from the body).
    acks: list[Ack] | None = None

    def acknowledgement(self, index: int, crypto: NirCrypto) -> Ack:
        if self.acks is None:
            self.acks = [ack(from_lot_line(line), crypto) for line in self.body.splitlines()]
        return self.acks[index]


@dataclass
class Packer:
    builder: Builder
    lot_size: int
    # The last dossier packed or handed back: the next lot's rows come after it. Only the
    # reading sets dossiers aside, so none before it is set aside any more, and the search
    # does not walk past the packed ones again (each lot's cost stays that of a lot, not of
    # the file: PostgreSQL, its statistics taken before, scanned every key before it).
    after: str | None = None


def body_aad(cle: str) -> bytes:
    return f"lot_reprise:{cle}".encode()


async def pack_next(
    sessions: async_sessionmaker[AsyncSession],
    write: asyncio.Lock,
    progress: Progress,
    packer: Packer,
    *,
    numero: int,
    now: datetime,
) -> Lot | None:
    """The next lot, recorded with its dossiers; None when no dossier is left to pack.

    The rows are read and their lines built outside any transaction (the pool works while
    the compte-rendus of other lots are recorded); then one transaction records the lot and
    hands back what was not packed. Only this backfill (one at a time, `single.py`) moves a
    work item's `lot_id`, so the rows read are still set aside when the lot is recorded; a
    newer snapshot meanwhile bumps the item's generation, which the compte-rendu sees."""
    while True:
        async with sessions() as session:
            await reading(session)
            statement = _set_aside(progress, packer.lot_size, packer.after)
            rows = (await session.execute(statement)).all()
        if not rows:
            return None
        built = await packer.builder.build_all([_stored(row) for row in rows])
        lines, kept, released, counts = _lines(rows, built, progress)
        lot = _lot(lines, kept, numero) if kept else None
        async with write, sessions() as session, session.begin():
            await _release(session, released)
            if lot is not None:
                await _record(session, lot, progress, packer.builder.crypto, now=now)
            await save_counts(session, progress, counts)
        packer.after = _last_taken(rows, len(kept) + len(released))
        if lot is not None:
            return lot


class LineOverLotLimit(RuntimeError):
    """A lot line longer than a lot may be: no lot can take it (a line read is 1 MiB at most,
    so only a broken invariant gets here)."""


def _last_taken(rows: Sequence[Any], taken: int) -> str:
    """The key after which the next lot's rows are searched: the last of the first `taken`
    rows (`_lines` takes them in order and stops before the first that does not fit). None
    taken: the first row's line alone is over the limit; passing over it would leave it set
    aside, never sent, and the backfill would end as done."""
    if taken == 0:
        raise LineOverLotLimit(f"a lot line is over AGORA's {MAX_BYTES} bytes a lot")
    key: str = rows[taken - 1].id_dossier
    return key


_DOSSIERS = cast(Table, Dossier.__table__)
_D = _DOSSIERS.c


def _set_aside(progress: Progress, limit: int, after: str | None) -> Any:
    """The next set-aside rows, in key order. The keys are chosen first, then joined: joined
    at once, PostgreSQL (its statistics taken before the reading marked most items) joined
    every set-aside item to its dossier before keeping the first ones, seconds a lot on a
    million-line file."""
    first = (
        select(_ITEMS.c.id_dossier, _ITEMS.c.generation)
        .where(_ITEMS.c.lot_id == marker(progress.id))
        .where(_ITEMS.c.id_dossier > after if after is not None else true())
        .order_by(_ITEMS.c.id_dossier)
        .limit(min(limit, MAX_LINES))
        .subquery()
    )
    return (
        select(  # a `StoredRow` first (`_stored`), then what the lot records
            first.c.id_dossier,
            _D.classement,
            _D.payload,
            _D.identite_key_id,
            _D.identite_ciphertext,
            first.c.generation,
            _D.version,
        )
        .join(_DOSSIERS, _D.id_dossier == first.c.id_dossier)
        .order_by(first.c.id_dossier)
    )


def _stored(row: Any) -> StoredRow:
    # By position: five lookups by name per row of every lot cost more than the slice.
    return StoredRow._make(row[:5])


def _lines(
    rows: Sequence[Any], built: Sequence[Result], progress: Progress
) -> tuple[list[Built], list[tuple[str, int, int]], list[str], Counts]:
    """The lines of the lot (within 16 MiB: the rest stays set aside for the next one), their
    dossiers, the dossiers handed back to the engine, and the counts with them."""
    lines: list[Built] = []
    kept: list[tuple[str, int, int]] = []
    released: list[str] = []
    size = 0
    counts = progress.counts.copy()
    for row, packed in zip(rows, built, strict=True):
        if not isinstance(packed, Built):
            released.append(row.id_dossier)
            if packed is None:
                counts.plus_envoyables += 1
            else:
                counts.retenus_au_lot[packed] += 1
            continue
        size += len(packed.line) + 1
        if size > MAX_BYTES:
            break
        lines.append(packed)
        kept.append((row.id_dossier, row.generation, row.version))
    return lines, kept, released, counts


def _lot(lines: list[Built], kept: list[tuple[str, int, int]], numero: int) -> Lot:
    body = b"".join(built.line + b"\n" for built in lines)  # the lines are kept only here
    return Lot(
        cle=hashlib.sha256(body).hexdigest(),
        numero=numero,
        body=body,
        dossiers=kept,
        request_id=str(uuid.uuid4()),
        acks=[built.ack for built in lines],
    )


async def _release(session: AsyncSession, ids: list[str]) -> None:
    """Back to the engine, which plans them (and holds what must be held)."""
    if ids:
        statement = update(_ITEMS).where(_ITEMS.c.id_dossier.in_(ids)).values(lot_id=None)
        await session.execute(statement)


async def _record(
    session: AsyncSession, lot: Lot, progress: Progress, crypto: NirCrypto, *, now: datetime
) -> None:
    """The lot, its dossiers' work items pointing at it, and its attempt in the ledger, all
    durable before it leaves."""
    key_id, blob = crypto.encrypt(lot.body.decode(), aad=body_aad(lot.cle))
    session.add(
        LotReprise(
            cle=lot.cle,
            reprise_id=progress.id,
            numero=lot.numero,
            statut=PRET,
            nb_lignes=len(lot.dossiers),
            dossiers=[list(d) for d in lot.dossiers],
            corps=blob,
            corps_key_id=key_id,
            request_id=lot.request_id,
            created_at=now,
        )
    )
    await session.flush()
    ids = [id_dossier for id_dossier, _, _ in lot.dossiers]
    await session.execute(update(_ITEMS).where(_ITEMS.c.id_dossier.in_(ids)).values(lot_id=lot.cle))
    entry = Entry(
        recorded_at=now,
        kind="lot.submitted",
        operation="PRET",
        request_id=lot.request_id,
        code=f"{len(lot.dossiers)} lignes",
        body_digest=lot.cle,
    )
    await append(on_session(session), [entry])


async def unfinished(session: AsyncSession, progress: Progress, crypto: NirCrypto) -> list[Lot]:
    """The lots recorded but whose outcome is not (a crash, an interruption), oldest first:
    their bodies as recorded, so that a resubmission finds the same AGORA lot."""
    rows = await session.scalars(
        select(LotReprise)
        .where(LotReprise.reprise_id == progress.id, LotReprise.statut.in_((PRET, DEPOSE)))
        .order_by(LotReprise.numero)
    )
    return [_restored(row, crypto) for row in rows]


def _restored(row: LotReprise, crypto: NirCrypto) -> Lot:
    # Kept until the lot is TRAITE or REFUSE.
    assert row.corps is not None
    assert row.corps_key_id is not None
    body = crypto.decrypt(row.corps_key_id, row.corps, aad=body_aad(row.cle)).encode()
    return Lot(
        cle=row.cle,
        numero=row.numero,
        body=body,
        dossiers=[(d[0], d[1], d[2]) for d in row.dossiers],
        request_id=row.request_id,
        id_lot=row.id_lot,
    )


async def last_numero(session: AsyncSession, progress: Progress) -> int:
    numeros = await session.scalars(
        select(LotReprise.numero)
        .where(LotReprise.reprise_id == progress.id)
        .order_by(LotReprise.numero.desc())
        .limit(1)
    )
    return next(iter(numeros), 0)
