"""Packing the set-aside dossiers into lots of their final state, each recorded before it
leaves: its key (the SHA-256 of its body), its lines → dossiers, its body encrypted.

A lot is packed once the whole file is read, from the newest stored snapshot of each dossier:
a version later in the file is never overtaken by a lot. What the planner would hold (a step
AGORA would refuse) and what is no longer sendable go back to the engine, which holds them
visibly.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.agora.mapping import from_lot_line, lot_line
from agora_bridge.backfill.reprise import Progress, marker, save_counts
from agora_bridge.decision.dossier import AgoraDossier
from agora_bridge.decision.planner import project
from agora_bridge.delivery.decisions import next_plan
from agora_bridge.ledger.chain import Entry
from agora_bridge.ledger.store import append
from agora_bridge.snapshots.perimeter import Classement
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.dossiers import snapshot_of
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
    # The final state of each line, when packed by this process (else read from the body).
    states: list[AgoraDossier] | None = None

    def state(self, index: int) -> AgoraDossier:
        if self.states is None:
            self.states = [from_lot_line(line) for line in self.body.splitlines()]
        return self.states[index]


@dataclass(frozen=True)
class Packer:
    crypto: NirCrypto
    code_financeur: str
    lot_size: int


def body_aad(cle: str) -> bytes:
    return f"lot_reprise:{cle}".encode()


async def pack_next(
    session: AsyncSession, progress: Progress, packer: Packer, *, numero: int, now: datetime
) -> Lot | None:
    """The next lot, recorded with its dossiers in the caller's transaction; None when no
    dossier is left to pack."""
    while True:
        rows = (await session.execute(_set_aside(progress, packer.lot_size))).all()
        if not rows:
            return None
        lines, kept, released = _lines(rows, packer, progress)
        await _release(session, released)
        if kept:
            lot = _lot(lines, kept, numero)
            await _record(session, lot, progress, packer.crypto, now=now)
            return lot


def _set_aside(progress: Progress, limit: int) -> Any:
    return (
        select(Livraison.id_dossier, Livraison.generation, Dossier)
        .join(Dossier, Dossier.id_dossier == Livraison.id_dossier)
        .where(Livraison.lot_id == marker(progress.id))
        .order_by(Livraison.id_dossier)
        .limit(min(limit, MAX_LINES))
    )


def _lines(
    rows: Sequence[Any], packer: Packer, progress: Progress
) -> tuple[list[tuple[bytes, AgoraDossier]], list[tuple[str, int, int]], list[str]]:
    """The lines of the lot (within 16 MiB: the rest stays set aside for the next one), their
    dossiers, and the dossiers handed back to the engine."""
    lines: list[tuple[bytes, AgoraDossier]] = []
    kept: list[tuple[str, int, int]] = []
    released: list[str] = []
    size = 0
    counts = progress.counts.copy()
    for id_dossier, generation, dossier in rows:
        packed = _line(dossier, packer)
        if isinstance(packed, str | None):
            released.append(id_dossier)
            if packed is None:
                counts.plus_envoyables += 1
            else:
                counts.retenus_au_lot[packed] += 1
            continue
        size += len(packed[0]) + 1
        if size > MAX_BYTES:
            break
        lines.append(packed)
        kept.append((id_dossier, generation, dossier.version))
    progress.counts = counts  # saved with the lot's record
    return lines, kept, released


def _line(dossier: Dossier, packer: Packer) -> tuple[bytes, AgoraDossier] | str | None:
    """A lot line and the state it creates; a hold reason; None when no longer sendable."""
    if dossier.classement != Classement.ENVOYABLE:
        return None
    snapshot = snapshot_of(dossier, packer.crypto)
    plan = next_plan(None, snapshot)
    if plan.retenue is not None:
        return plan.retenue
    state = project(snapshot)
    line = lot_line(state, code_financeur=packer.code_financeur)
    return line.model_dump_json().encode(), state


def _lot(
    lines: list[tuple[bytes, AgoraDossier]], kept: list[tuple[str, int, int]], numero: int
) -> Lot:
    body = b"".join(line + b"\n" for line, _ in lines)
    return Lot(
        cle=hashlib.sha256(body).hexdigest(),
        numero=numero,
        body=body,
        dossiers=kept,
        request_id=str(uuid.uuid4()),
        states=[state for _, state in lines],
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
    await save_counts(session, progress, progress.counts)
    entry = Entry(
        recorded_at=now,
        kind="lot.submitted",
        operation="PRET",
        request_id=lot.request_id,
        code=f"{len(lot.dossiers)} lignes",
        body_digest=lot.cle,
    )
    await append(session, [entry])


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
