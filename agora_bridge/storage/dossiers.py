"""The snapshot store: the latest version of each dossier, its identity encrypted.

Functions here only flush; the caller commits, once per request, job or command.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    Column,
    Dialect,
    Select,
    Table,
    TypeDecorator,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.types import TypeEngine

from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.perimeter import Classement, Classification
from agora_bridge.storage import identity
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.models import Dossier, Json


class StoreOutcome(StrEnum):
    ACCEPTE = "ACCEPTE"
    IGNORE_VERSION_ANCIENNE = "IGNORE_VERSION_ANCIENNE"


@dataclass(frozen=True, slots=True)
class Sealed:
    """A snapshot ready to store: its key, version and date, and its `payload` and identity
    columns already computed (`identity.snapshot_columns`), by another process maybe (the
    backfill's reading pool): what storing needs of a `Snapshot`, without the model."""

    id_dossier: str
    version: int
    date_maj: datetime
    columns: dict[str, Any]


def seal(snapshot: Snapshot, crypto: NirCrypto) -> Sealed:
    columns = identity.snapshot_columns(snapshot, crypto)
    return Sealed(snapshot.id_dossier, snapshot.version, snapshot.date_maj, columns)


async def store_snapshot(
    session: AsyncSession,
    snapshot: Snapshot | Sealed,
    classification: Classification,
    crypto: NirCrypto,
    *,
    now: datetime,
) -> StoreOutcome:
    """Keep `snapshot` if its version is newer than the stored one; count it otherwise.

    The insert comes first: when the row exists it does nothing, and the row is then read
    under a lock (FOR UPDATE on PostgreSQL, the write lock on SQLite), so two writers of one
    dossier are serialised and the higher version always wins.
    """
    state = _state(snapshot, classification, crypto, now=now)
    # The ORM attribute and the column's type take the payload as a dict (a rare path: a
    # line at a time when the database refused its batch).
    state["payload"] = json.loads(state["payload"])
    if await _insert_if_absent(session, state | {"created_at": now}):
        return StoreOutcome.ACCEPTE
    row = await _locked(session, snapshot.id_dossier)
    if snapshot.version <= row.version:
        row.versions_ignorees += 1
        await session.flush()
        return StoreOutcome.IGNORE_VERSION_ANCIENNE
    for column, value in state.items():
        setattr(row, column, value)
    await session.flush()
    return StoreOutcome.ACCEPTE


async def store_snapshots(
    session: AsyncSession,
    items: Sequence[tuple[Snapshot | Sealed, Classification]],
    crypto: NirCrypto,
    *,
    now: datetime,
) -> list[StoreOutcome]:
    """`store_snapshot` for a whole batch in two statements, for ingest's rates.

    One upsert keeps each dossier's snapshot unless the stored version is as high (the
    database re-checks the version under its row lock, so concurrent writers still converge
    on the highest); one update counts the ignored ones. Within the batch only the highest
    version of a dossier is a candidate (the first on a tie): the others are ignored.
    """
    winners: dict[str, int] = {}
    for index, (snapshot, _) in enumerate(items):
        best = winners.get(snapshot.id_dossier)
        if best is None or snapshot.version > items[best][0].version:
            winners[snapshot.id_dossier] = index
    rows = [
        _state(*items[index], crypto, now=now) | {"created_at": now}
        for _, index in sorted(winners.items())  # one lock order for every writer
    ]
    accepted = await _upsert_newer(session, rows) if rows else set()
    outcomes = [
        StoreOutcome.ACCEPTE
        if winners[s.id_dossier] == index and s.id_dossier in accepted
        else StoreOutcome.IGNORE_VERSION_ANCIENNE
        for index, (s, _) in enumerate(items)
    ]
    ignored = Counter(
        s.id_dossier
        for (s, _), outcome in zip(items, outcomes, strict=True)
        if outcome is StoreOutcome.IGNORE_VERSION_ANCIENNE
    )
    await _count_ignored(session, ignored)
    return outcomes


async def _upsert_newer(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Insert or replace each row unless its stored version is as high; the ids it wrote.

    One statement for all rows. SQLite: executemany parameters, which SQLAlchemy sends as
    multi-row VALUES ("insertmanyvalues") with a cached compilation, where `.values(rows)`
    would compile a new statement for every batch. PostgreSQL: one array a column, the rows
    made by `unnest` (`_from_arrays`): no per-row parameter processing, one prepared
    statement whatever the batch's size."""
    table = cast(Table, Dossier.__table__)
    names = list(rows[0])
    insert: postgresql.Insert | sqlite.Insert
    params: dict[str, list[Any]] | list[dict[str, Any]]
    if session.get_bind().dialect.name == "postgresql":
        insert = postgresql.insert(table).from_select(names, _from_arrays(names))
        params = _arrays(rows)
    else:
        insert, params = sqlite.insert(table).values(payload=_PAYLOAD_TEXT), rows
    statement = _newer(table, insert, names)
    return set((await session.execute(statement, params)).scalars())


def _newer(
    table: Table, insert: postgresql.Insert | sqlite.Insert, names: list[str]
) -> ReturningInsert[Any]:
    replaced = {name: insert.excluded[name] for name in names if name != "created_at"}
    return insert.on_conflict_do_update(
        index_elements=["id_dossier"],
        set_=replaced,
        where=table.c.version < insert.excluded.version,
    ).returning(table.c.id_dossier)


def _from_arrays(names: list[str]) -> Select[Any]:
    """`SELECT * FROM unnest(:id_dossier, :version, …)`: one bound array a column."""
    table = cast(Table, Dossier.__table__)
    arrays = [bindparam(name, type_=ARRAY(_array_item(table.c[name]))) for name in names]
    source = func.unnest(*arrays).table_valued(*names).render_derived()
    return select(*source.c)


def _array_item(column: Column[Any]) -> TypeEngine[Any]:
    return _JsonText() if column.name == "payload" else column.type


def _arrays(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in rows[0]}


class _JsonText(TypeDecorator[str]):
    """A JSON column's value already encoded (`identity.snapshot_columns`): stored as it is,
    where the column's own type would encode the text again, as a JSON string."""

    impl = Json
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


# The rows' `payload` key, bound as text: one statement whatever the batch (cached).
_PAYLOAD_TEXT = bindparam("payload", type_=_JsonText())


async def _count_ignored(session: AsyncSession, ignored: Counter[str]) -> None:
    if not ignored:
        return
    table = Dossier.__table__
    assert isinstance(table, Table)
    statement = (
        update(table)
        .where(table.c.id_dossier == bindparam("ignored_id"))
        .values(versions_ignorees=table.c.versions_ignorees + bindparam("ignored_count"))
    )
    await session.execute(
        statement,
        [{"ignored_id": key, "ignored_count": count} for key, count in sorted(ignored.items())],
    )


def _state(
    snapshot: Snapshot | Sealed,
    classification: Classification,
    crypto: NirCrypto,
    *,
    now: datetime,
) -> dict[str, Any]:
    """The columns a newer snapshot replaces."""
    if isinstance(snapshot, Snapshot):
        snapshot = seal(snapshot, crypto)
    return {
        "id_dossier": snapshot.id_dossier,
        "version": snapshot.version,
        "date_maj": snapshot.date_maj,
        "classement": _CLASSEMENT[classification.classement],
        "motif": classification.motif,
        "updated_at": now,
        **snapshot.columns,
    }


# `.value` is a descriptor call in Python 3.11; `_state` runs once a line.
_CLASSEMENT = {classement: classement.value for classement in Classement}


async def _insert_if_absent(session: AsyncSession, values: dict[str, Any]) -> bool:
    statement = (
        _insert(session)
        .values(values)
        .on_conflict_do_nothing(index_elements=[Dossier.id_dossier])
        .returning(Dossier.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


def _insert(session: AsyncSession) -> postgresql.Insert | sqlite.Insert:
    # Both dialects spell "insert unless the key exists" alike, each with its own class.
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(Dossier)
    return sqlite.insert(Dossier)


async def _locked(session: AsyncSession, id_dossier: str) -> Dossier:
    statement = (
        select(Dossier)
        .where(Dossier.id_dossier == id_dossier)
        .with_for_update()
        # Another writer may have changed the row since this session last saw it.
        .execution_options(populate_existing=True)
    )
    return (await session.execute(statement)).scalar_one()


def snapshot_of(dossier: Dossier, crypto: NirCrypto) -> Snapshot:
    """The stored snapshot whole, its identity decrypted: only for the AGORA requests."""
    return snapshot_from(
        dossier.id_dossier,
        dossier.payload,
        dossier.identite_key_id,
        dossier.identite_ciphertext,
        crypto,
    )


def snapshot_from(
    id_dossier: str, payload: dict[str, Any], key_id: str, ciphertext: bytes, crypto: NirCrypto
) -> Snapshot:
    """`snapshot_of`, from the dossier's columns."""
    clear = identity.decrypt(id_dossier, key_id, ciphertext, crypto)
    return Snapshot.model_validate(identity.merged(payload, clear))


async def load_nir(session: AsyncSession, id_dossier: str, crypto: NirCrypto) -> str | None:
    """The stored NIR, normalised, in clear; None when the dossier or its NIR is absent."""
    statement = select(Dossier.identite_key_id, Dossier.identite_ciphertext).where(
        Dossier.id_dossier == id_dossier
    )
    row = (await session.execute(statement)).one_or_none()
    if row is None:
        return None
    nir: str | None = identity.decrypt(id_dossier, *row, crypto)["nir"]
    return nir
