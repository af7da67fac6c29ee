"""What AGORA acknowledged of a dossier (`etat_agora`), and the context of one pass.

The acknowledged `AgoraDossier` is stored as JSON without its titulaire (NIR, names, birth
date): `titulaire_index` is a keyed digest of the titulaire AGORA holds. To plan, the
snapshot's titulaire is put back when the digests match, one that can match nothing otherwise
(the planner then rectifies).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Insert, String, Table, Text, bindparam, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.agora import schemas as wire
from agora_bridge.agora.mapping import from_wire, lot_line
from agora_bridge.agora.schemas import from_agora
from agora_bridge.decision.dossier import AgoraDossier, Titulaire
from agora_bridge.decision.planner import project
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.normalise import agora_name
from agora_bridge.snapshots.perimeter import Classement
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.dossiers import snapshot_from
from agora_bridge.storage.executor import Executor, autocommit
from agora_bridge.storage.identity import titulaire_index
from agora_bridge.storage.models import Dossier, EtatAgora, Livraison

# A titulaire no snapshot projects to (no NIR starts with 0): the planner sees a holder to
# rectify. Valid on AGORA's wire, so that the stored JSON decodes through its schema.
_UNKNOWN = {
    "nir": "0" * 13,
    "nom_naissance": "INCONNU",
    "prenom": "INCONNU",
    "date_naissance": "1900-01-01",
    "sexe": "M",
}
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
    target: AgoraDossier | None  # the snapshot's projection: what AGORA should hold
    id_agora: str | None
    acknowledged: AgoraDossier | None
    idempotency_key: str | None
    body_digest: str | None
    searched: bool = False  # AGORA searched in this pass: a creation may follow
    # `acknowledged` as `etat_agora` stores it (its JSON, its titulaire's digest), while it is
    # the state loaded; None once the pass acknowledged another (`delivery/reported.py`).
    stored: tuple[dict[str, Any], str] | None = None


def personal_values(ctx: Context) -> list[str]:
    """The names and birth date AGORA could quote back in a refusal, as the Région wrote them
    and as AGORA holds them: what its message must lose before it is stored."""
    values: list[str] = []
    if ctx.snapshot is not None:
        stagiaire = ctx.snapshot.stagiaire
        names = (stagiaire.nom_naissance, stagiaire.prenom)
        values += [*names, *map(agora_name, names), *_written(stagiaire.date_naissance)]
    if ctx.acknowledged is not None:
        titulaire = ctx.acknowledged.titulaire
        values += [titulaire.nom_naissance, titulaire.prenom]
        values += _written(titulaire.date_naissance)
    return values


def _written(day: date) -> list[str]:
    return [day.isoformat(), day.strftime("%d/%m/%Y")]


def encode(dossier: AgoraDossier) -> dict[str, Any]:
    data = lot_line(dossier, code_financeur=_NO_FINANCEUR).model_dump(mode="json")
    del data["titulaire"], data["code_financeur"]
    return {**data, "statut": dossier.statut.value}


def decode(data: dict[str, Any], titulaire: Titulaire | None) -> AgoraDossier:
    """The stored dossier with `titulaire`, or with one that can match nothing (None)."""
    content = {**data, "titulaire": _UNKNOWN, "code_financeur": _NO_FINANCEUR, "id_agora": "-"}
    decoded = from_wire(from_agora(wire.Dossier, content))
    return replace(decoded, titulaire=titulaire) if titulaire is not None else decoded


def digest(titulaire: Titulaire, crypto: NirCrypto) -> str:
    return titulaire_index(
        crypto,
        nir_index=crypto.blind_index(titulaire.nir),
        nom_naissance=titulaire.nom_naissance,
        prenom=titulaire.prenom,
        date_naissance=titulaire.date_naissance.isoformat(),
        sexe=titulaire.sexe,
    )


def row(acquittement: Acquittement, crypto: NirCrypto, *, now: datetime) -> dict[str, Any]:
    dossier = acquittement.dossier
    return {
        "id_agora": acquittement.id_agora,
        "acquitte": encode(dossier),
        "titulaire_index": digest(dossier.titulaire, crypto),
        "acquitte_at": now,
    }


async def store_all(executor: Executor, rows: list[dict[str, Any]]) -> None:
    """Upsert acknowledged states (`row()` plus `id_dossier`; `acquitte` as a dict or as its
    JSON text already), one statement for all (executemany), in the order of their keys: one
    row-lock order for every writer."""
    if not rows:
        return
    dialect = executor.dialect.name
    statement = _UPSERTS.get(dialect)
    if statement is None:
        statement = _UPSERTS[dialect] = _upsert(dialect)
    ordered = sorted(rows, key=lambda row: str(row["id_dossier"]))
    await executor.each(statement, [_params(row) for row in ordered])


def _params(row: dict[str, Any]) -> dict[str, Any]:
    acquitte = row["acquitte"]
    if not isinstance(acquitte, str):
        acquitte = json.dumps(acquitte, separators=(",", ":"), ensure_ascii=False)
    return {
        "p_id_dossier": row["id_dossier"],
        "p_id_agora": row["id_agora"],
        "p_acquitte": acquitte,
        "p_titulaire_index": row["titulaire_index"],
        "p_acquitte_at": row["acquitte_at"],
    }


# Built once per dialect: the recorder runs it for most of its groups.
_UPSERTS: dict[str, Insert] = {}
_STORED = ("id_agora", "acquitte", "titulaire_index", "acquitte_at")  # `row()`'s columns


def _upsert(dialect: str) -> Insert:
    """`acquitte` is bound as the JSON text it is (a backfill's lines hold it encoded
    already): the column type's own encoding per row cost as much as the rest of the row.
    PostgreSQL reads the text as jsonb; SQLite's JSON column is that text."""
    table = cast(Table, EtatAgora.__table__)
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    text: Any = bindparam("p_acquitte", type_=Text)
    values: dict[str, Any] = {n: bindparam(f"p_{n}", type_=table.c[n].type) for n in _KEYED}
    values["acquitte"] = sql_cast(text, JSONB) if dialect == "postgresql" else text
    insert = insert.values(values)
    replaced = {name: insert.excluded[name] for name in _STORED}
    return insert.on_conflict_do_update(index_elements=["id_dossier"], set_=replaced)


_KEYED = ("id_dossier", "id_agora", "titulaire_index", "acquitte_at")


# Built once, the dossier bound, Core columns rather than ORM entities: a pass's load runs
# on the driver (`storage/executor.py`), and building a statement cost more than running it.
_KEY = bindparam("id_dossier", type_=String)
_DOSSIERS, _ITEMS, _ETATS = (
    cast(Table, model.__table__) for model in (Dossier, Livraison, EtatAgora)
)
_D, _L, _E = _DOSSIERS.c, _ITEMS.c, _ETATS.c
# The snapshot's columns (`_snapshot`), then the work item's, then the acknowledged state's.
_SNAPSHOT = (
    _D.version,
    _D.classement,
    _D.motif,
    _D.payload,
    _D.identite_key_id,
    _D.identite_ciphertext,
)
_LOAD = (
    select(*_SNAPSHOT, _L.generation, _L.attempts, _L.idempotency_key, _L.body_digest)
    .add_columns(_E.id_agora, _E.acquitte, _E.titulaire_index)
    .select_from(_ITEMS.join(_DOSSIERS, _D.id_dossier == _L.id_dossier))
    .outerjoin(_ETATS, _E.id_dossier == _L.id_dossier)
    .where(_L.id_dossier == _KEY)
)
_RELOAD = (
    select(*_SNAPSHOT, _L.generation)
    .select_from(_DOSSIERS.outerjoin(_ITEMS, _L.id_dossier == _D.id_dossier))
    .where(_D.id_dossier == _KEY)
)


async def load(
    sessions: async_sessionmaker[AsyncSession], id_dossier: str, crypto: NirCrypto
) -> Context | None:
    """The pass's context; None when the work item or its snapshot is gone. One statement,
    outside a transaction (`storage/executor.autocommit`)."""
    async with autocommit(sessions) as statements:
        found = await statements.rows(_LOAD, {"id_dossier": id_dossier})
    if not found:
        return None
    row = found[0]
    version, classement, motif = row[0], row[1], row[2]
    generation, attempts, idempotency_key, body_digest = row[6:10]
    id_agora, acquitte, titulaire_index = row[10:13]
    snapshot = _snapshot(id_dossier, row[:6], crypto)
    target = _projected(snapshot)
    return Context(
        id_dossier=id_dossier,
        version=version,
        generation=generation,
        attempts=attempts,
        classement=classement,
        motif=motif,
        snapshot=snapshot,
        target=target,
        id_agora=id_agora,
        acknowledged=(
            restored_from(acquitte, titulaire_index, target, crypto) if id_agora else None
        ),
        idempotency_key=idempotency_key,
        body_digest=body_digest,
        stored=(acquitte, titulaire_index) if id_agora else None,
    )


async def reload_snapshot(
    sessions: async_sessionmaker[AsyncSession], context: Context, crypto: NirCrypto
) -> None:
    """A newer snapshot was stored during the pass: plan from it from now on."""
    async with autocommit(sessions) as statements:
        (row,) = await statements.rows(_RELOAD, {"id_dossier": context.id_dossier})
    context.version, context.classement, context.motif = row[0], row[1], row[2]
    context.snapshot = _snapshot(context.id_dossier, row[:6], crypto)
    context.target = _projected(context.snapshot)
    context.generation = row[6] if row[6] is not None else context.generation


def _snapshot(id_dossier: str, columns: Sequence[Any], crypto: NirCrypto) -> Snapshot | None:
    """The snapshot from `_SNAPSHOT`'s columns, when it is sendable."""
    _, classement, _, payload, key_id, ciphertext = columns
    if classement != Classement.ENVOYABLE:
        return None
    return snapshot_from(id_dossier, payload, key_id, ciphertext, crypto)


def _projected(snapshot: Snapshot | None) -> AgoraDossier | None:
    # Once a snapshot, not at every plan of the pass (each step of it plans again).
    return project(snapshot) if snapshot is not None else None


def restored(etat: EtatAgora, target: AgoraDossier | None, crypto: NirCrypto) -> AgoraDossier:
    """The acknowledged dossier to plan from: the titulaire of the snapshot's projection
    `target` if AGORA holds it."""
    return restored_from(etat.acquitte, etat.titulaire_index, target, crypto)


def restored_from(
    acquitte: dict[str, Any], titulaire_index: str, target: AgoraDossier | None, crypto: NirCrypto
) -> AgoraDossier:
    """`restored`, from `etat_agora`'s two columns."""
    if target is not None:
        ours = target.titulaire
        if digest(ours, crypto) == titulaire_index:
            return decode(acquitte, ours)
    return decode(acquitte, None)
