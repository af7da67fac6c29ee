"""Orientations at rest: the row, its changes in commit order, creation keys, listings.

Every change takes the next number of the `orientation` counter (`next_seq`: an UPDATE …
RETURNING that holds the counter's row lock until commit). Writers are thereby serialised at
their last statements, so numbers become visible in their order: a reader that has seen
change n has seen every change before it, on PostgreSQL as on SQLite (whose BEGIN IMMEDIATE
serialises writers anyway). The Région's feed follows these numbers; a listing pins the
highest number when it starts and places each orientation at its last change up to then, so
that one that changes between pages neither moves nor shows twice.

Functions here only flush; the request commits.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

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

COUNTER = "orientation"
KEY_LIFETIME = timedelta(hours=24)


class KeyReused(Exception):
    """An Idempotency-Key this caller already used with another body."""


@dataclass(frozen=True, slots=True)
class Vue:
    """An orientation at one of its versions, with its candidate in clear, ready to render."""

    row: Orientation
    etat: dict[str, Any]
    candidat: dict[str, Any]
    seq: int


@dataclass(frozen=True, slots=True)
class Filtres:
    statut: StatutOrientation | None = None
    session_numero: str | None = None
    modifie_depuis: datetime | None = None


def visible(caller: Caller) -> ColumnElement[bool]:
    """What the caller may see: its SIRET's, the ones it created, or (OPS, REGION_SI) all."""
    if caller.role is Role.ORGANISME:
        return Orientation.organisme_siret == caller.siret
    if caller.role is Role.PRESCRIPTEUR:
        return Orientation.cree_par == caller.organisation_id
    return true()


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


async def next_seq(session: AsyncSession) -> int:
    """The next change number; the counter's row stays locked until the commit."""
    statement = (
        update(Compteur)
        .where(Compteur.nom == COUNTER)
        .values(valeur=Compteur.valeur + 1)
        .returning(Compteur.valeur)
    )
    return int((await session.execute(statement)).scalar_one())


async def high_water(session: AsyncSession) -> int:
    """The number of the last committed change."""
    value = await session.scalar(select(Compteur.valeur).where(Compteur.nom == COUNTER))
    return int(value or 0)


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


def candidat_of(row: Orientation, crypto: NirCrypto) -> dict[str, Any]:
    text = crypto.decrypt(row.candidat_key_id, row.candidat_ciphertext, aad=candidat_aad(row.id))
    candidat: dict[str, Any] = json.loads(text)
    return candidat


async def create(
    session: AsyncSession,
    creation: Creation,
    *,
    caller: Caller,
    crypto: NirCrypto,
    now: datetime,
) -> Vue:
    orientation_id = str(uuid.uuid4())
    columns = candidat_columns(orientation_id, creation, crypto)
    etat = etat_json(created(le=now, par=caller.role.value), now)
    prescripteur = caller.role is Role.PRESCRIPTEUR
    seq = await next_seq(session)
    row = Orientation(
        id=orientation_id,
        statut=StatutOrientation.PRESCRITE.value,
        version=1,
        seq=seq,
        cree_par=caller.organisation_id,
        prescripteur_code=caller.structure_code if prescripteur else None,
        prescripteur_type=caller.structure_type.value
        if prescripteur and caller.structure_type
        else None,
        organisme_siret=creation.organisme.siret,
        action_numero=creation.session.action_numero,
        session_numero=creation.session.session_numero,
        etat=etat,
        created_at=now,
        updated_at=now,
        **columns,
    )
    session.add(row)
    await session.flush()
    session.add(_changement(row, seq, etat, now))
    await session.flush()
    return Vue(row, etat, candidat_of(row, crypto), seq)


def _changement(row: Orientation, seq: int, etat: dict[str, Any], now: datetime) -> Any:
    return OrientationChangement(
        seq=seq, orientation_id=row.id, version=etat["version"], etat=etat, changed_at=now
    )


async def find(
    session: AsyncSession, orientation_id: str, caller: Caller, *, lock: bool = False
) -> Orientation | None:
    """The caller's orientation with this id (None: not the caller's, or none)."""
    statement = select(Orientation).where(Orientation.id == orientation_id, visible(caller))
    if lock:
        statement = statement.with_for_update()
    row: Orientation | None = await session.scalar(statement)
    return row


async def record(session: AsyncSession, row: Orientation, etat: Etat, *, now: datetime) -> None:
    """The orientation's new state, and its change under the next number."""
    data = etat_json(etat, now)
    seq = await next_seq(session)
    row.statut, row.version, row.seq, row.etat = etat.statut.value, etat.version, seq, data
    row.updated_at = now
    if etat.statut is StatutOrientation.ENTREE:
        row.entree_declaree_at = now
    session.add(_changement(row, seq, data, now))
    await session.flush()


async def replayed(
    session: AsyncSession, caller: Caller, cle: str, empreinte: str, *, now: datetime
) -> str | None:
    """The orientation a fresh key created with the same body; None for an unknown (or
    expired, then forgotten) key; KeyReused for another body."""
    found = await session.get(Idempotence, (caller.organisation_id, cle))
    if found is None:
        return None
    if found.created_at <= now - KEY_LIFETIME:
        await session.execute(
            delete(Idempotence).where(
                Idempotence.organisation_id == caller.organisation_id, Idempotence.cle == cle
            )
        )
        session.expunge(found)
        return None
    if found.empreinte != empreinte:
        raise KeyReused
    return found.orientation_id


def remember_key(
    session: AsyncSession, caller: Caller, *, cle: str, empreinte: str, vue: Vue, now: datetime
) -> None:
    session.add(
        Idempotence(
            organisation_id=caller.organisation_id,
            cle=cle,
            empreinte=empreinte,
            orientation_id=vue.row.id,
            created_at=now,
        )
    )


async def first_version(session: AsyncSession, orientation_id: str, crypto: NirCrypto) -> Vue:
    """The orientation as its creation answered it."""
    row = await session.get_one(Orientation, orientation_id)
    change = await session.scalar(
        select(OrientationChangement).where(
            OrientationChangement.orientation_id == orientation_id,
            OrientationChangement.version == 1,
        )
    )
    assert change is not None  # written with the orientation
    return Vue(row, change.etat, candidat_of(row, crypto), change.seq)


def _filtered(caller: Caller, filtres: Filtres) -> list[ColumnElement[bool]]:
    conditions = [visible(caller)]
    if filtres.statut is not None:
        conditions.append(Orientation.statut == filtres.statut.value)
    if filtres.session_numero is not None:
        conditions.append(Orientation.session_numero == filtres.session_numero)
    if filtres.modifie_depuis is not None:
        conditions.append(Orientation.updated_at >= filtres.modifie_depuis)
    return conditions


async def listing(
    session: AsyncSession,
    caller: Caller,
    filtres: Filtres,
    *,
    high: int,
    before: int | None,
    limit: int,
    crypto: NirCrypto,
) -> list[Vue]:
    """Up to `limit` orientations, newest change first, each placed at its last change up to
    `high` (the listing's first page), below position `before`."""
    conditions = _filtered(caller, filtres)
    below = before if before is not None else high + 1
    unchanged = (
        select(Orientation)
        .where(*conditions, Orientation.seq <= high, Orientation.seq < below)
        .order_by(Orientation.seq.desc())
        .limit(limit)
    )
    rows = [(row.seq, row) for row in await session.scalars(unchanged)]
    rows += await _changed_since(session, conditions, high, below)
    rows.sort(key=lambda item: item[0], reverse=True)
    return [Vue(row, row.etat, candidat_of(row, crypto), pos) for pos, row in rows[:limit]]


async def _changed_since(
    session: AsyncSession, conditions: list[ColumnElement[bool]], high: int, below: int
) -> list[tuple[int, Orientation]]:
    """Orientations changed after the listing started, at their last change up to then
    (none for one created since: it was not there)."""
    position = (
        select(func.max(OrientationChangement.seq))
        .where(
            OrientationChangement.orientation_id == Orientation.id,
            OrientationChangement.seq <= high,
        )
        .scalar_subquery()
    )
    statement = select(Orientation, position).where(*conditions, Orientation.seq > high)
    found = (await session.execute(statement)).all()
    return [(pos, row) for row, pos in found if pos is not None and pos < below]


async def feed(
    session: AsyncSession,
    *,
    after: int,
    since: datetime | None,
    limit: int,
    crypto: NirCrypto,
) -> list[Vue]:
    """Every change after number `after`, oldest first, the orientation as that change left it."""
    statement = (
        select(OrientationChangement, Orientation)
        .join(Orientation, Orientation.id == OrientationChangement.orientation_id)
        .where(OrientationChangement.seq > after)
        .order_by(OrientationChangement.seq)
        .limit(limit)
    )
    if since is not None:
        statement = statement.where(OrientationChangement.changed_at >= since)
    found = (await session.execute(statement)).all()
    return [Vue(row, change.etat, candidat_of(row, crypto), change.seq) for change, row in found]
