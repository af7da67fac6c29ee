"""What the ops status and `/metrics` will read: in-process counters, and the queue's state
(from the database, so that every replica reports the same)."""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from agora_bridge.storage.livraisons import A_FAIRE, PARQUE, RETENU
from agora_bridge.storage.models import Livraison

# Upper bounds of the attempt-latency histogram, in seconds (Prometheus' `le`).
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class DeliveryStats:
    """Counters of one engine process since it started."""

    # (operation, outcome) → count: ("Creer", "SUCCES"), ("Entrer", "AMBIGU")…
    operations: Counter[tuple[str, str]] = field(default_factory=Counter)
    latency_buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
    latency_sum_s: float = 0.0
    latency_count: int = 0
    fenced: int = 0  # outcomes dropped because the claim was no longer ours
    last_success_at: datetime | None = None

    def observe(self, operation: str, outcome: str, seconds: float) -> None:
        self.operations[(operation, outcome)] += 1
        self.latency_buckets[bisect.bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
        self.latency_sum_s += seconds
        self.latency_count += 1


@dataclass(frozen=True, slots=True)
class QueueStatus:
    by_etat: dict[str, int]
    due_now: int
    oldest_pending_age_s: float | None
    parked_by_code: dict[str, int]
    held_by_reason: dict[str, int]

    @property
    def parked(self) -> int:
        return sum(self.parked_by_code.values())


async def queue_status(session: AsyncSession, *, now: datetime) -> QueueStatus:
    by_etat = dict(
        (await session.execute(select(Livraison.etat, func.count()).group_by(Livraison.etat))).all()
    )
    pending = Livraison.etat == A_FAIRE
    oldest = await session.scalar(select(func.min(Livraison.opened_at)).where(pending))
    due = await session.scalar(
        select(func.count()).where(pending, Livraison.due_at <= now).select_from(Livraison)
    )
    return QueueStatus(
        by_etat=by_etat,
        due_now=due or 0,
        oldest_pending_age_s=(now - oldest).total_seconds() if oldest is not None else None,
        parked_by_code=await _count_by(session, Livraison.code, PARQUE),
        held_by_reason=await _count_by(session, Livraison.motif_retenue, RETENU),
    )


async def _count_by(
    session: AsyncSession, column: InstrumentedAttribute[str | None], etat: str
) -> dict[str, int]:
    rows = await session.execute(
        select(column, func.count()).where(Livraison.etat == etat).group_by(column)
    )
    return {str(key): count for key, count in rows.all()}
