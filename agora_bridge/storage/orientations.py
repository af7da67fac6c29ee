"""Orientations at rest: the row, its changes in commit order, creation keys (pages of them:
`orientation_pages`).

Every change takes the next number of the `orientation` counter (an UPDATE … RETURNING that
holds the counter's row lock until commit). Writers are thereby serialised, so numbers become
visible in their order: a reader that has seen change n has seen every change before it, on
PostgreSQL as on SQLite (whose BEGIN IMMEDIATE serialises writers anyway). The Région's feed
follows these numbers; a listing pins the highest number when it starts and places each
orientation at its last change up to then, so that one that changes between pages neither
moves nor shows twice.

Core statements on a connection, no ORM objects: a request of the orientation API is a few
statements, and the ORM's unit of work cost more CPU than they did. On PostgreSQL the reads
run outside a transaction (each statement its own snapshot, which is all they need) and each
write is one statement (data-modifying CTEs): the counter's lock is then held for the time
PostgreSQL runs that statement, never across a round trip to an event loop that may be busy
with other requests. A transition reads the orientation, then writes only if its version is
still the one read (`record` answers None otherwise, and the caller reads again). On SQLite,
which has no data-modifying CTE, the writes are the same steps one after the other in the
request's BEGIN IMMEDIATE transaction.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeAlias, cast

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    Table,
    bindparam,
    delete,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from agora_bridge.orientation.machine import created
from agora_bridge.orientation.model import (
    Abandon,
    Creation,
    Decision,
    Etape,
    Etat,
    StatutOrientation,
)
from agora_bridge.storage.callers import Caller, Role
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.identity import seal
from agora_bridge.storage.models import Compteur, Idempotence, Orientation, OrientationChangement

# A row of `COLUMNS` (and, in some statements, a few labelled columns more).
Ligne: TypeAlias = Row[*tuple[Any, ...]]

COUNTER = "orientation"
KEY_LIFETIME = timedelta(hours=24)
ORIENTATION = cast(Table, Orientation.__table__)
CHANGEMENT = cast(Table, OrientationChangement.__table__)
IDEMPOTENCE = cast(Table, Idempotence.__table__)
COMPTEUR = cast(Table, Compteur.__table__)
# What an answer needs of the row (`api/ouiform_vues.render`, `candidat_of`).
COLUMNS = tuple(
    ORIENTATION.c[name]
    for name in (
        "id", "statut", "version", "seq", "prescripteur_code", "prescripteur_type",
        "organisme_siret", "action_numero", "session_numero", "candidat_ciphertext",
        "candidat_key_id", "etat", "created_at",
    )
)  # fmt: skip


# The same without the current state, where another one is read.
ROW_COLUMNS = tuple(column for column in COLUMNS if column.name not in ("etat", "seq"))


class KeyReused(Exception):
    """An Idempotency-Key this caller already used with another body."""


@dataclass(frozen=True, slots=True)
class Vue:
    """An orientation at one of its versions, with its candidate in clear, ready to render.
    `row` holds the orientation's `COLUMNS` (those that never change after creation are the
    ones read from it; `etat` is the version's)."""

    row: Ligne
    etat: dict[str, Any]
    candidat: dict[str, Any]
    seq: int


@dataclass(frozen=True, slots=True)
class Filtres:
    statut: StatutOrientation | None = None
    session_numero: str | None = None
    modifie_depuis: datetime | None = None


def visible(role: Role) -> ColumnElement[bool]:
    """What a caller of `role` may see: its SIRET's, the ones it created, or (OPS, REGION_SI)
    all; the caller's SIRET or id is the parameter `caller` (`scope`), so that statements
    are built once (`_FIND`)."""
    scope = bindparam("caller", type_=String())
    if role is Role.ORGANISME:
        return ORIENTATION.c.organisme_siret == scope
    if role is Role.PRESCRIPTEUR:
        return ORIENTATION.c.cree_par == scope
    return true()


def scope(caller: Caller) -> dict[str, str | None]:
    """The parameter of `visible`."""
    if caller.role is Role.ORGANISME:
        return {"caller": caller.siret}
    return {"caller": caller.organisation_id if caller.role is Role.PRESCRIPTEUR else None}


_FIND = {
    role: select(*COLUMNS).where(
        ORIENTATION.c.id == bindparam("orientation_id", type_=String()), visible(role)
    )
    for role in Role
}


def etat_json(etat: Etat, maj_le: datetime) -> dict[str, Any]:
    def dumped(model: Decision | Abandon | None) -> dict[str, Any] | None:
        return model.model_dump(mode="json") if model is not None else None

    return {
        "statut": etat.statut.value,
        "version": etat.version,
        "date_information_collective": _iso(etat.date_information_collective),
        "decision": dumped(etat.decision),
        "date_entree": _iso(etat.date_entree),
        "abandon": dumped(etat.abandon),
        "historique": [
            {"statut": e.statut.value, "le": e.le.isoformat(), "par": e.par}
            for e in etat.historique
        ],
        "maj_le": maj_le.isoformat(),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def etat_of(data: dict[str, Any]) -> Etat:
    decision, abandon = data["decision"], data["abandon"]
    return Etat(
        statut=StatutOrientation(data["statut"]),
        version=data["version"],
        historique=tuple(
            Etape(StatutOrientation(e["statut"]), datetime.fromisoformat(e["le"]), e["par"])
            for e in data["historique"]
        ),
        date_information_collective=_date(data["date_information_collective"]),
        decision=Decision.model_validate(decision) if decision else None,
        date_entree=_date(data["date_entree"]),
        abandon=Abandon.model_validate(abandon) if abandon else None,
    )


def _date(value: str | None) -> Any:
    return datetime.fromisoformat(value).date() if value else None


def _on_postgresql(connection: AsyncConnection) -> bool:
    return connection.dialect.name == "postgresql"


def _next_seq() -> Any:
    """The next change number; the counter's row stays locked until the commit."""
    return (
        update(COMPTEUR)
        .where(COMPTEUR.c.nom == COUNTER)
        .values(valeur=COMPTEUR.c.valeur + 1)
        .returning(COMPTEUR.c.valeur)
    )


# The number of the last committed change.
HIGH_WATER = (
    select(COMPTEUR.c.valeur).where(COMPTEUR.c.nom == COUNTER).scalar_subquery().label("high")
)


def candidat_aad(orientation_id: str) -> bytes:
    return b"orientation:" + orientation_id.encode()


def candidat_columns(orientation_id: str, creation: Creation, crypto: NirCrypto) -> dict[str, Any]:
    candidat = creation.candidat.model_dump(mode="json")
    sealed = seal(candidat, nom="nom", aad=candidat_aad(orientation_id), crypto=crypto)
    return {
        "candidat_ciphertext": sealed.blob,
        "candidat_key_id": sealed.key_id,
        "nir_index": sealed.nir_index,
        "identite_index": sealed.identite_index,
    }


def candidat_of(row: Ligne, crypto: NirCrypto) -> dict[str, Any]:
    text = crypto.decrypt(row.candidat_key_id, row.candidat_ciphertext, aad=candidat_aad(row.id))
    candidat: dict[str, Any] = json.loads(text)
    return candidat


def vue_of(row: Ligne, crypto: NirCrypto) -> Vue:
    """The orientation as it is now."""
    return Vue(row, row.etat, candidat_of(row, crypto), row.seq)


async def create(
    connection: AsyncConnection,
    creation: Creation,
    *,
    caller: Caller,
    key: tuple[str, str],
    crypto: NirCrypto,
    now: datetime,
) -> Vue:
    """A new orientation, its first change, and the creation key (`key`: the key and the
    body's digest) that replays it. A key another request stored first: IntegrityError."""
    values = _creation_values(creation, caller=caller, crypto=crypto, now=now)
    first = {"version": 1, "etat": values["etat"], "changed_at": now}
    remembered: dict[str, Any] = {
        "organisation_id": caller.organisation_id,
        "cle": key[0],
        "empreinte": key[1],
    }
    remembered |= {"orientation_id": values["id"], "created_at": now}
    if _on_postgresql(connection):
        statement = _created_at_once(tuple(values), tuple(first), tuple(remembered))
        params = params_of(ORIENTATION, values) | params_of(CHANGEMENT, first)
        row = (
            await connection.execute(statement, params | params_of(IDEMPOTENCE, remembered))
        ).one()
    else:
        seq = (await connection.execute(_next_seq())).scalar_one()
        inserted = insert(ORIENTATION).values(**values, seq=seq).returning(*COLUMNS)
        row = (await connection.execute(inserted)).one()
        changement = {**first, "seq": seq, "orientation_id": row.id}
        await connection.execute(insert(CHANGEMENT).values(**changement))
        await connection.execute(insert(IDEMPOTENCE).values(**remembered))
    return Vue(row, values["etat"], candidat_of(row, crypto), row.seq)


def _creation_values(
    creation: Creation, *, caller: Caller, crypto: NirCrypto, now: datetime
) -> dict[str, Any]:
    orientation_id = str(uuid.uuid4())
    prescripteur = caller.role is Role.PRESCRIPTEUR
    structure_type = caller.structure_type if prescripteur else None
    return {
        "id": orientation_id,
        "statut": StatutOrientation.PRESCRITE.value,
        "version": 1,
        "cree_par": caller.organisation_id,
        "prescripteur_code": caller.structure_code if prescripteur else None,
        "prescripteur_type": structure_type.value if structure_type else None,
        "organisme_siret": creation.organisme.siret,
        "action_numero": creation.session.action_numero,
        "session_numero": creation.session.session_numero,
        "etat": etat_json(created(le=now, par=caller.role.value), now),
        "created_at": now,
        "updated_at": now,
        **candidat_columns(orientation_id, creation, crypto),
    }


# The PostgreSQL statements are built once (per set of columns) with bound parameters: SQLAlchemy
# then reuses their cache key and compiled form, where building them took a request's CPU.


def _typed(table: Table, names: tuple[str, ...]) -> list[Any]:
    # Each parameter carries its column's type, so that JSON, bytes and instants bind as they
    # do in a plain INSERT; named after its table, as two tables share column names.
    return [bound(table, name).label(name) for name in names]


def bound(table: Table, name: str) -> Any:
    return bindparam(f"{table.name}__{name}", type_=table.c[name].type)


def params_of(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{table.name}__{name}": value for name, value in values.items()}


@cache
def _created_at_once(
    values: tuple[str, ...], first: tuple[str, ...], remembered: tuple[str, ...]
) -> Select[Any]:
    """PostgreSQL: the counter, the orientation, its first change and the key, one statement."""
    seq = _next_seq().cte("seq")
    orientation = (
        insert(ORIENTATION)
        .from_select([*values, "seq"], select(*_typed(ORIENTATION, values), seq.c.valeur))
        .returning(*COLUMNS)
        .cte("inserted")
    )
    first_change = insert(CHANGEMENT).from_select(
        [*first, "seq", "orientation_id"],
        select(*_typed(CHANGEMENT, first), orientation.c.seq, orientation.c.id),
    )
    key = insert(IDEMPOTENCE).from_select(
        [*remembered], select(*_typed(IDEMPOTENCE, remembered)).select_from(orientation)
    )
    return select(orientation).add_cte(first_change.cte("first"), key.cte("key"))


async def find(connection: AsyncConnection, orientation_id: str, caller: Caller) -> Ligne | None:
    """The caller's orientation with this id (None: not the caller's, or none)."""
    params = {"orientation_id": orientation_id, **scope(caller)}
    return (await connection.execute(_FIND[caller.role], params)).one_or_none()


async def record(
    connection: AsyncConnection, row: Ligne, etat: Etat, *, now: datetime
) -> tuple[dict[str, Any], int] | None:
    """The orientation's new state, and its change under the next number: (the state as
    stored, its number), or None when the orientation is no longer at the version in `row`
    (another change came first: read it again)."""
    data = etat_json(etat, now)
    values: dict[str, Any] = {"statut": etat.statut.value, "version": etat.version}
    values |= {"etat": data, "updated_at": now}
    if etat.statut is StatutOrientation.ENTREE:
        values["entree_declaree_at"] = now
    change = {"version": etat.version, "etat": data, "changed_at": now}
    if _on_postgresql(connection):
        params = {"orientation_id": row.id, "read_version": row.version}
        params |= params_of(ORIENTATION, values) | params_of(CHANGEMENT, change)
        seq = await connection.scalar(_recorded_at_once(tuple(values), tuple(change)), params)
        return (data, seq) if seq is not None else None
    same_version = (ORIENTATION.c.id == row.id, ORIENTATION.c.version == row.version)
    seq = (await connection.execute(_next_seq())).scalar_one()
    moved = await connection.execute(
        update(ORIENTATION).where(*same_version).values(**values, seq=seq)
    )
    if moved.rowcount != 1:
        return None  # not reached on SQLite: the read was in this write transaction
    await connection.execute(insert(CHANGEMENT).values(**change, seq=seq, orientation_id=row.id))
    return data, seq


@cache
def _recorded_at_once(values: tuple[str, ...], change: tuple[str, ...]) -> Any:
    """PostgreSQL: the counter, the orientation and its change, one statement. When the
    version moved meanwhile nothing is written but the counter (a number skipped: harmless,
    readers only need the numbers in commit order)."""
    seq = _next_seq().cte("seq")
    same_version = (
        ORIENTATION.c.id == bindparam("orientation_id"),
        ORIENTATION.c.version == bindparam("read_version"),
    )
    moved = (
        update(ORIENTATION)
        .where(*same_version)
        .values({name: bound(ORIENTATION, name) for name in values})
        .values(seq=select(seq.c.valeur).scalar_subquery())
        .returning(ORIENTATION.c.id, ORIENTATION.c.seq)
        .cte("moved")
    )
    return (
        insert(CHANGEMENT)
        .from_select(
            [*change, "seq", "orientation_id"],
            select(*_typed(CHANGEMENT, change), moved.c.seq, moved.c.id),
        )
        .returning(CHANGEMENT.c.seq)
    )


async def replayed(
    connection: AsyncConnection, caller: Caller, cle: str, empreinte: str, *, now: datetime
) -> str | None:
    """The orientation a fresh key created with the same body; None for an unknown (or
    expired, then forgotten) key; KeyReused for another body."""
    mine = (IDEMPOTENCE.c.organisation_id == caller.organisation_id, IDEMPOTENCE.c.cle == cle)
    statement = select(
        IDEMPOTENCE.c.empreinte, IDEMPOTENCE.c.orientation_id, IDEMPOTENCE.c.created_at
    )
    found = (await connection.execute(statement.where(*mine))).one_or_none()
    if found is None:
        return None
    expired = found.created_at <= now - KEY_LIFETIME
    if expired:
        await connection.execute(
            delete(IDEMPOTENCE).where(*mine, IDEMPOTENCE.c.created_at <= now - KEY_LIFETIME)
        )
        return None
    if found.empreinte != empreinte:
        raise KeyReused
    return cast(str, found.orientation_id)


async def first_version(connection: AsyncConnection, orientation_id: str, crypto: NirCrypto) -> Vue:
    """The orientation as its creation answered it."""
    statement = (
        select(
            *ROW_COLUMNS,
            CHANGEMENT.c.etat.label("first_etat"),
            CHANGEMENT.c.seq.label("first_seq"),
        )
        .join_from(ORIENTATION, CHANGEMENT, CHANGEMENT.c.orientation_id == ORIENTATION.c.id)
        .where(ORIENTATION.c.id == orientation_id, CHANGEMENT.c.version == 1)
    )
    row = (await connection.execute(statement)).one()
    return Vue(row, row.first_etat, candidat_of(row, crypto), row.first_seq)
