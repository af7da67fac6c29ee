"""Which acknowledged dossiers `reconcile` reads: all of them in pages, or a random sample.

A candidate is a dossier with an acknowledged state (`etat_agora`) whose work item no lot
carries (the backfill is then in charge). Pages follow `id_dossier` (the primary key), so
memory stays flat however many there are.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.storage.db import reading
from agora_bridge.storage.models import EtatAgora, Livraison

PAGE = 500


@dataclass(frozen=True, slots=True)
class Candidate:
    """An acknowledged state as stored: the titulaire only as its digest."""

    id_dossier: str
    id_agora: str
    acquitte: dict[str, Any]
    titulaire_index: str
    acquitte_at: datetime
    lease_until: datetime | None  # a pass holds the item until then

    def busy(self, now: datetime) -> bool:
        return self.lease_until is not None and self.lease_until > now


def _candidates() -> Select[Any]:
    return (
        select(
            EtatAgora.id_dossier,
            EtatAgora.id_agora,
            EtatAgora.acquitte,
            EtatAgora.titulaire_index,
            EtatAgora.acquitte_at,
            Livraison.lease_until,
        )
        .join(Livraison, Livraison.id_dossier == EtatAgora.id_dossier)
        .where(Livraison.lot_id.is_(None))
        .order_by(EtatAgora.id_dossier)
    )


async def every_page(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[list[Candidate]]:
    after = ""
    while True:
        page = await _page(sessions, _candidates().where(EtatAgora.id_dossier > after))
        if page:
            yield page
        if len(page) < PAGE:
            return
        after = page[-1].id_dossier


async def sample_pages(
    sessions: async_sessionmaker[AsyncSession], size: int, rng: random.Random
) -> AsyncIterator[list[Candidate]]:
    """`size` candidates drawn uniformly; the same seed over the same rows draws the same."""
    ids = sorted(await _reservoir(sessions, size, rng))
    for start in range(0, len(ids), PAGE):
        chosen = ids[start : start + PAGE]
        yield await _page(sessions, _candidates().where(EtatAgora.id_dossier.in_(chosen)))


async def _reservoir(
    sessions: async_sessionmaker[AsyncSession], size: int, rng: random.Random
) -> list[str]:
    """Algorithm R over the ids read in pages: memory for `size` ids only."""
    kept: list[str] = []
    seen = 0
    after = ""
    ids = select(EtatAgora.id_dossier).join(Livraison, Livraison.id_dossier == EtatAgora.id_dossier)
    ids = ids.where(Livraison.lot_id.is_(None)).order_by(EtatAgora.id_dossier)
    while True:
        async with sessions() as session:
            await reading(session)
            statement = ids.where(EtatAgora.id_dossier > after).limit(PAGE * 10)
            page: Sequence[str] = (await session.scalars(statement)).all()
        for key in page:
            seen += 1
            if len(kept) < size:
                kept.append(key)
            elif (slot := rng.randrange(seen)) < size:
                kept[slot] = key
        if len(page) < PAGE * 10:
            return kept
        after = page[-1]


async def _page(sessions: async_sessionmaker[AsyncSession], query: Select[Any]) -> list[Candidate]:
    async with sessions() as session:
        await reading(session)
        rows = (await session.execute(query.limit(PAGE))).all()
    return [Candidate(*row) for row in rows]
