"""The ledger in the database: appends serialised across processes, the chain read back.

`append` runs inside the caller's transaction, so an entry exists exactly when the fact it
records was committed. Appends are serialised: on PostgreSQL by a transaction-level advisory
lock held until commit (two replicas never read the same head, so the chain never forks, and
ids are allocated in commit order); on SQLite every write transaction already runs alone
(`BEGIN IMMEDIATE`, see `storage/db.py`). Take it late: the lock is held until the commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import fields
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Dialect,
    Insert,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.ledger.chain import GENESIS, Chained, Checker, Entry, Verdict, entry_hash
from agora_bridge.storage.executor import Executor
from agora_bridge.storage.models import LedgerEntry

# An arbitrary 64-bit constant naming the ledger's advisory lock ("AGORALDG" in ASCII).
_LOCK_KEY = 0x41474F52414C4447
_READ_BATCH = 5000
_TABLE = cast(Table, LedgerEntry.__table__)


async def append(executor: Executor, entries: Sequence[Entry]) -> str:
    """Chain `entries` after the current head, in order; returns the new head's hash."""
    if not entries:
        return await head_hash(executor)
    await serialise(executor)
    prev = await head_hash(executor)
    rows: list[dict[str, Any]] = []
    for entry in entries:
        digest = entry_hash(entry, prev)
        rows.append({**_columns(entry), "prev_hash": prev, "hash": digest})
        prev = digest
    dialect = executor.dialect
    await executor.rows(_INSERTS[dialect.name], _bound(rows, dialect))
    return prev


def _bound(rows: list[dict[str, Any]], dialect: Dialect) -> dict[str, Any]:
    """The rows as one value a column (PostgreSQL: arrays), or as one JSON array of rows
    (SQLite, which has no arrays; its instants as SQLAlchemy's own SQLite type writes them):
    a million-line backfill appends a million entries, and executemany parameters cost a
    round of SQLAlchemy's processing per row."""
    if dialect.name == "postgresql":
        return {name: [row[name] for row in rows] for name in _ROW}
    instant = _RECORDED_AT.dialect_impl(dialect).bind_processor(dialect)
    assert instant is not None
    for row in rows:
        row["recorded_at"] = instant(row["recorded_at"])
    return {"rows": [[row[name] for name in _ROW] for row in rows]}


def _from_arrays() -> Insert:
    table = _TABLE.c
    arrays = [bindparam(name, type_=ARRAY(table[name].type)) for name in _ROW]
    source = func.unnest(*arrays).table_valued(*_ROW, with_ordinality="n").render_derived()
    # Ids are drawn in the rows' order, the chain's.
    ordered = select(*(source.c[name] for name in _ROW)).order_by(source.c.n)
    return insert(_TABLE).from_select(_ROW, ordered)


def _from_json() -> Insert:
    rows = func.json_each(bindparam("rows", type_=JSON)).table_valued("value", "key")
    values = [func.json_extract(rows.c.value, f"$[{index}]") for index in range(len(_ROW))]
    # Ids are drawn in the rows' order (`key`: the position in the array), the chain's.
    return insert(_TABLE).from_select(_ROW, select(*values).order_by(rows.c.key))


_ROW = [*(field.name for field in fields(Entry)), "prev_hash", "hash"]
_RECORDED_AT = _TABLE.c.recorded_at.type
# Built once: the same statement whatever the number of entries.
_INSERTS = {"postgresql": _from_arrays(), "sqlite": _from_json()}


def _columns(entry: Entry) -> dict[str, object]:
    # Not `asdict`: its deep copy is the costliest part of a large append; nor `fields()` at
    # each call (a backfill appends one entry a line read).
    return {name: getattr(entry, name) for name in _NAMES}


_NAMES = tuple(field.name for field in fields(Entry))


# Built once: every group commit of the sync engine runs both.
_LOCK = text("SELECT pg_advisory_xact_lock(:key)").bindparams(bindparam("key", type_=BigInteger))
_HEAD_HASH = select(LedgerEntry.hash).order_by(LedgerEntry.id.desc()).limit(1)


async def serialise(executor: Executor) -> None:
    """Take the ledger's lock for the rest of the transaction (once: a second call in the same
    transaction costs nothing). Whatever a transaction inserts after it gets ids in commit
    order: the return flow's events rely on it (`storage/retours.py`)."""
    if executor.dialect.name != "postgresql" or executor.ledger_locked:
        return
    await executor.rows(_LOCK, {"key": _LOCK_KEY})
    executor.lock_taken()


async def head(session: AsyncSession) -> LedgerEntry | None:
    statement = select(LedgerEntry).order_by(LedgerEntry.id.desc()).limit(1)
    return (await session.execute(statement)).scalar_one_or_none()


async def head_hash(executor: Executor) -> str:
    # The column alone: every group commit of the sync engine reads it, and loading the
    # whole entry as an ORM object cost more than the query.
    found = await executor.rows(_HEAD_HASH)
    return str(found[0][0]) if found else GENESIS


async def read_chain(session: AsyncSession) -> AsyncIterator[Chained]:
    """Every entry in id order, read in pages so that memory stays flat."""
    after = 0
    while True:
        statement = (
            select(LedgerEntry).where(LedgerEntry.id > after).order_by(LedgerEntry.id)
        ).limit(_READ_BATCH)
        rows = (await session.execute(statement)).scalars().all()
        for row in rows:
            yield _chained(row)
        if len(rows) < _READ_BATCH:
            return
        after = rows[-1].id
        session.expunge_all()


def _chained(row: LedgerEntry) -> Chained:
    entry = Entry(
        recorded_at=row.recorded_at,
        kind=row.kind,  # type: ignore[arg-type]  # written from `Kind` only
        id_dossier=row.id_dossier,
        version=row.version,
        operation=row.operation,
        request_id=row.request_id,
        http_status=row.http_status,
        code=row.code,
        body_digest=row.body_digest,
    )
    return Chained(row.id, entry, row.prev_hash, row.hash)


async def verify_ledger(session: AsyncSession, *, anchor: str | None = None) -> Verdict:
    checker = Checker(anchor=anchor)
    async for link in read_chain(session):
        if not checker.feed(link):
            break
    return checker.verdict()
