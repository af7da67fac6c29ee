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
from typing import cast

from sqlalchemy import Integer, Table, Update, bindparam, or_, select, update

from agora_bridge.storage.executor import Executor
from agora_bridge.storage.livraisons import A_FAIRE
from agora_bridge.storage.models import Livraison

_TABLE = cast(Table, Livraison.__table__)


@dataclass(frozen=True, slots=True)
class Claim:
    id_dossier: str
    token: str  # unique to this claim: every outcome is fenced on it (and the dossier)
    generation: int
    verifier: bool


def new_token(owner: str) -> str:
    return f"{owner[:27]}:{uuid.uuid4().hex}"


async def claim_due(
    executor: Executor, *, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[Claim]:
    """Lease up to `limit` due items, oldest due first, in one statement (a claim was a
    read and then a write: two round trips more a pass); the caller commits. The items of
    one claim share its token: every fence is on the dossier and the token together."""
    token = new_token(owner)
    params = {"now": now, "limit": limit, "token": token, "until": now + lease}
    rows = sorted(await executor.rows(_CLAIM, params), key=lambda r: (r[3], r[0]))
    return [Claim(key, token, generation, verifier) for key, generation, verifier, _ in rows]


def _claim_statement() -> Update:
    """Built once, its values bound: building it per claim cost ~0.75 ms of SQLAlchemy."""
    c = _TABLE.c
    now = bindparam("now", type_=c.due_at.type)
    candidates = (
        select(c.id_dossier)
        .where(
            c.etat == A_FAIRE,
            c.due_at <= now,
            c.lot_id.is_(None),
            or_(c.lease_until.is_(None), c.lease_until < now),
        )
        # The index's own order (etat, due_at): PostgreSQL reads due items in it and stops at
        # the limit. A tie-break on id_dossier cannot come from the index: planned from
        # statistics older than the queue (autovacuum off or behind), each claim read and
        # sorted every due item instead (161 heap rows fetched a call: `bench.sync_rows`).
        .order_by(c.due_at)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True)
        # A CTE: the locking SELECT runs once, as its own step, before the UPDATE.
        .cte("due")
    )
    return (
        update(_TABLE)
        .where(c.id_dossier.in_(select(candidates.c.id_dossier)))
        # SET reads the old row: a lease still set there lapsed under another claim.
        .values(
            lease_owner=bindparam("token", type_=c.lease_owner.type),
            lease_until=bindparam("until", type_=c.lease_until.type),
            verifier=or_(c.verifier, c.lease_owner.is_not(None)),
        )
        .returning(c.id_dossier, c.generation, c.verifier, c.due_at)
    )


_CLAIM = _claim_statement()
