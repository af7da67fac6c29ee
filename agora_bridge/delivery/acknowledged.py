"""What AGORA acknowledged of a dossier (`etat_agora`), and the context of one pass.

The acknowledged `AgoraDossier` is stored as JSON without its NIR: `nir_index` is the blind
index of the 13-character NIR AGORA holds. To plan, the snapshot's NIR is put back when the
indexes match, a value that can match nothing otherwise (the planner then rectifies).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.agora import schemas as wire
from agora_bridge.agora.mapping import from_wire, lot_line
from agora_bridge.agora.schemas import from_agora
from agora_bridge.decision.dossier import AgoraDossier
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.nir import nir_for_agora
from agora_bridge.snapshots.perimeter import Classement
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.dossiers import load_nir
from agora_bridge.storage.models import Dossier, EtatAgora, Livraison

# Shaped like a NIR but none (no NIR starts with 0): the planner sees a holder to rectify.
_UNKNOWN_NIR = "0" * 13
# The encoding reuses AGORA's own shape of a dossier (a lot line plus its state), so that the
# one mapping both ways is `agora/mapping.py`'s; the code_financeur is not kept.
_NO_FINANCEUR = "X"


@dataclass(frozen=True, slots=True)
class Acquittement:
    """A new acknowledged state to store: AGORA's id and the dossier it holds."""

    id_agora: str
    dossier: AgoraDossier


@dataclass(slots=True)
class Context:
    """What one pass knows of its dossier: the newest snapshot, AGORA's acknowledged state."""

    id_dossier: str
    version: int
    generation: int
    attempts: int
    classement: str
    motif: str | None
    snapshot: Snapshot | None  # only when sendable
    id_agora: str | None
    acknowledged: AgoraDossier | None
    idempotency_key: str | None
    body_digest: str | None
    searched: bool = False  # AGORA searched in this pass: a creation may follow


def encode(dossier: AgoraDossier) -> dict[str, Any]:
    data = lot_line(dossier, code_financeur=_NO_FINANCEUR).model_dump(mode="json")
    del data["titulaire"]["nir"], data["code_financeur"]
    return {**data, "statut": dossier.statut.value}


def decode(data: dict[str, Any], nir: str) -> AgoraDossier:
    titulaire = {**data["titulaire"], "nir": nir}
    content = {**data, "titulaire": titulaire, "code_financeur": _NO_FINANCEUR, "id_agora": "-"}
    return from_wire(from_agora(wire.Dossier, content))


def row(acquittement: Acquittement, crypto: NirCrypto, *, now: datetime) -> dict[str, Any]:
    dossier = acquittement.dossier
    return {
        "id_agora": acquittement.id_agora,
        "acquitte": encode(dossier),
        "nir_index": crypto.blind_index(dossier.titulaire.nir),
        "acquitte_at": now,
    }


async def store(session: AsyncSession, id_dossier: str, values: dict[str, Any]) -> None:
    """Upsert the acknowledged state of one dossier."""
    table = cast(Table, EtatAgora.__table__)
    insert = (
        postgresql.insert(table)
        if session.get_bind().dialect.name == "postgresql"
        else sqlite.insert(table)
    ).values(id_dossier=id_dossier, **values)
    statement = insert.on_conflict_do_update(index_elements=["id_dossier"], set_=values)
    await session.execute(statement)


async def reading(session: AsyncSession) -> None:
    """Reads outside a transaction: on SQLite every transaction takes the write lock
    (`storage/db.py`), and a pass's reads must not queue behind the recorder's writes.
    Each read stands alone; the generation check catches a snapshot stored in between."""
    await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


async def load(session: AsyncSession, id_dossier: str, crypto: NirCrypto) -> Context | None:
    """The pass's context; None when the work item or its snapshot is gone."""
    await reading(session)
    found = (
        await session.execute(
            select(Livraison, Dossier, EtatAgora)
            .join(Dossier, Dossier.id_dossier == Livraison.id_dossier)
            .outerjoin(EtatAgora, EtatAgora.id_dossier == Livraison.id_dossier)
            .where(Livraison.id_dossier == id_dossier)
        )
    ).one_or_none()
    if found is None:
        return None
    item, dossier, etat = found
    snapshot = await _snapshot(session, dossier, crypto)
    return Context(
        id_dossier=id_dossier,
        version=dossier.version,
        generation=item.generation,
        attempts=item.attempts,
        classement=dossier.classement,
        motif=dossier.motif,
        snapshot=snapshot,
        id_agora=etat.id_agora if etat else None,
        acknowledged=_acknowledged(etat, snapshot, crypto) if etat else None,
        idempotency_key=item.idempotency_key,
        body_digest=item.body_digest,
    )


async def reload_snapshot(session: AsyncSession, context: Context, crypto: NirCrypto) -> None:
    """A newer snapshot was stored during the pass: plan from it from now on."""
    await reading(session)
    dossier = (
        await session.execute(select(Dossier).where(Dossier.id_dossier == context.id_dossier))
    ).scalar_one()
    context.classement, context.motif = dossier.classement, dossier.motif
    context.version = dossier.version
    context.snapshot = await _snapshot(session, dossier, crypto)
    generation = await session.scalar(
        select(Livraison.generation).where(Livraison.id_dossier == context.id_dossier)
    )
    context.generation = generation if generation is not None else context.generation


async def _snapshot(session: AsyncSession, dossier: Dossier, crypto: NirCrypto) -> Snapshot | None:
    if dossier.classement != Classement.ENVOYABLE:
        return None
    nir = await load_nir(session, dossier.id_dossier, crypto)
    payload = dict(dossier.payload)
    payload["stagiaire"] = {**payload["stagiaire"], "nir": nir}
    return Snapshot.model_validate(payload)


def _acknowledged(etat: EtatAgora, snapshot: Snapshot | None, crypto: NirCrypto) -> AgoraDossier:
    nir = _UNKNOWN_NIR
    if snapshot is not None and snapshot.stagiaire.nir is not None:
        ours = nir_for_agora(snapshot.stagiaire.nir)
        if crypto.blind_index(ours) == etat.nir_index:
            nir = ours
    return decode(etat.acquitte, nir)
