"""Work items (`livraison`) as ingest and the operators change them (`docs/DELIVERY.md`).

The engine's own statements (claims, fenced outcomes) live in `agora_bridge/delivery/`.
Functions here only flush; the caller commits, in the transaction that stored the snapshots.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    String,
    Table,
    any_,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import TableValuedAlias

from agora_bridge.storage.models import EtatAgora, Livraison, UtcDateTime

A_FAIRE, A_JOUR, PARQUE, RETENU = "A_FAIRE", "A_JOUR", "PARQUE", "RETENU"


def _reopened(now: datetime) -> dict[str, Any]:
    """The columns a newer snapshot resets: due now, unless already waiting for a retry
    (AGORA's Retry-After or a backoff still holds); a parked call or a hold is forgotten
    (the ledger keeps it) and the plan is rebuilt from the new snapshot (interleaving 6)."""
    waiting = Livraison.etat == A_FAIRE
    return {
        "etat": A_FAIRE,
        "generation": Livraison.generation + 1,
        "due_at": case((waiting, Livraison.due_at), else_=now),
        "attempts": case((waiting, Livraison.attempts), else_=0),
        "code": None,
        "message": None,
        "motif_retenue": None,
        "parked_at": None,
        "opened_at": case((waiting, Livraison.opened_at), else_=now),
    }


async def reopen(
    session: AsyncSession, *, upsert: Sequence[str], existing: Sequence[str], now: datetime
) -> None:
    """A newer snapshot of each dossier was stored: its work item becomes due.

    `upsert`: dossiers that need one (sendable or held); `existing`: dossiers that need one
    only if AGORA may already know them (excluded ones: the engine then decides).
    """
    if upsert:
        await _upsert(session, sorted(set(upsert)), now)
    if existing:
        keys = among_keys(session, _TABLE.c.id_dossier)
        statement = update(_TABLE).where(keys).values(_reopened(now))
        await session.execute(statement, {"keys": sorted(set(existing))})


async def _upsert(session: AsyncSession, ids: list[str], now: datetime) -> None:
    """One statement whose only per-row value is the key, given as one array: the database
    makes the rows (`INSERT … SELECT` from the array), where executemany parameters cost a
    Python round of SQLAlchemy's parameter processing per row."""
    keys = bound_keys(session)
    rows = select(keys.c.value, literal(A_FAIRE), literal(1), _NOW, _NOW).where(true())
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = postgresql.insert(_TABLE) if postgres else sqlite.insert(_TABLE)
    statement = insert.from_select(_NEW_ITEM, rows).on_conflict_do_update(
        index_elements=["id_dossier"], set_=_reopened(now)
    )
    await session.execute(statement, {"keys": ids, "now": now})


def bound_keys(session: AsyncSession) -> TableValuedAlias:
    """The list of keys bound as `keys`, as a one-column table (`value`): one parameter
    whatever the number of keys (an `IN` list is one per key, each processed)."""
    if session.get_bind().dialect.name == "postgresql":
        array = bindparam("keys", type_=ARRAY(String))
        return func.unnest(array).table_valued("value").render_derived()
    # SQLite has no arrays: a JSON array, and its elements (`where(true())` above: SQLite
    # reads `ON CONFLICT` after a bare `SELECT … FROM` as a join constraint).
    return func.json_each(bindparam("keys", type_=JSON)).table_valued("value")


def among_keys(session: AsyncSession, column: ColumnElement[str]) -> ColumnElement[bool]:
    """`column IN` the list of keys bound as `keys`, one parameter whatever their number.
    PostgreSQL: `= ANY(array)`, which probes the column's index like an `IN` list, where
    `IN (SELECT unnest(…))` is planned for 100 keys and may scan the whole table."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("keys", type_=ARRAY(String)))
    return column.in_(select(bound_keys(session).c.value))


_TABLE = cast(Table, Livraison.__table__)
_NEW_ITEM = ["id_dossier", "etat", "generation", "due_at", "opened_at"]
_NOW = bindparam("now", type_=UtcDateTime())


async def replay(session: AsyncSession, where: ColumnElement[bool], *, now: datetime) -> list[str]:
    """Parked items matching `where` go back to the queue, due now (`agora-bridge replay`);
    the ids replayed. Their generation moves on, so an outcome in flight cannot close them."""
    ids = (
        (
            await session.execute(
                select(Livraison.id_dossier)
                .where(Livraison.etat == PARQUE, where)
                .order_by(Livraison.id_dossier)
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    if ids:
        statement = update(Livraison).where(Livraison.id_dossier.in_(ids)).values(_reopened(now))
        await session.execute(statement)
    return list(ids)


async def reverify(
    session: AsyncSession,
    id_dossier: str,
    *,
    acknowledged_at: datetime,
    forget: bool,
    now: datetime,
) -> bool:
    """`reconcile` found AGORA holding something else: the item reopens with `verifier` set,
    so the engine reads AGORA back before planning (the path of an ambiguous failure), and
    sends what differs. `forget`: AGORA no longer has the dossier; the acknowledged state
    goes, so the engine searches, then creates.

    Only if nothing moved since AGORA was read: the acknowledged state is the one compared
    (`acknowledged_at`), no claim holds the item, no lot carries it. False otherwise."""
    unchanged = exists().where(
        EtatAgora.id_dossier == id_dossier, EtatAgora.acquitte_at == acknowledged_at
    )
    statement = (
        update(Livraison)
        .where(
            Livraison.id_dossier == id_dossier,
            Livraison.lot_id.is_(None),
            or_(Livraison.lease_until.is_(None), Livraison.lease_until < now),
            unchanged,
        )
        .values(_reopened(now) | {"verifier": True})
        .returning(Livraison.id_dossier)
    )
    if (await session.execute(statement)).scalar_one_or_none() is None:
        return False
    if forget:
        await session.execute(delete(EtatAgora).where(EtatAgora.id_dossier == id_dossier))
    return True
