"""Taking due work items: one claim per dossier across every process (interleavings 3, 4, 5).

PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait for nor take each
other's rows, then a lease (`lease_owner`, `lease_until`) that outlives the transaction: a
killed worker's items come back when it lapses. SQLite: every write transaction runs alone
(`BEGIN IMMEDIATE`), so the same statements are a single writer's.

An item whose lease lapsed while another claim held it is claimed with `verifier` set: that
worker may have died between AGORA's answer and the commit of it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.storage.livraisons import A_FAIRE
from agora_bridge.storage.models import Livraison


@dataclass(frozen=True, slots=True)
class Claim:
    id_dossier: str
    token: str  # unique to this claim: every outcome is fenced on it
    generation: int
    verifier: bool


def new_token(owner: str) -> str:
    return f"{owner[:27]}:{uuid.uuid4().hex}"


async def claim_due(
    session: AsyncSession, *, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[Claim]:
    """Lease up to `limit` due items, oldest due first; the caller commits."""
    candidates = (
        select(
            Livraison.id_dossier, Livraison.generation, Livraison.verifier, Livraison.lease_owner
        )
        .where(
            Livraison.etat == A_FAIRE,
            Livraison.due_at <= now,
            Livraison.lot_id.is_(None),
            or_(Livraison.lease_until.is_(None), Livraison.lease_until < now),
        )
        .order_by(Livraison.due_at, Livraison.id_dossier)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = (await session.execute(candidates)).all()
    claims = [
        Claim(key, new_token(owner), generation, verifier or lapsed is not None)
        for key, generation, verifier, lapsed in rows
    ]
    if claims:
        await session.execute(
            _LEASE.values(lease_until=now + lease),
            [
                {"claim_id": c.id_dossier, "claim_token": c.token, "claim_verifier": c.verifier}
                for c in claims
            ],
        )
    return claims


_TABLE = Livraison.__table__
assert isinstance(_TABLE, Table)
# One statement for the whole batch (executemany).
_LEASE = (
    update(_TABLE)
    .where(_TABLE.c.id_dossier == bindparam("claim_id"))
    .values(lease_owner=bindparam("claim_token"), verifier=bindparam("claim_verifier"))
)
