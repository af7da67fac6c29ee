"""The ops status (`GET /ops/status`, the ops page): read from the database, so that every
replica reports the same; only the circuit and the engine's counters are this process's.

Dossier keys, orientation ids, codes and counts only: never a NIR, a name or a birth date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.backfill import report as backfill_report
from agora_bridge.backfill.reprise import progress_of
from agora_bridge.delivery.stats import DeliveryStats, QueueStatus, queue_status
from agora_bridge.ledger import store as ledger
from agora_bridge.ops.throughput import Minute, per_minute
from agora_bridge.reconciliation.runs import last_run
from agora_bridge.snapshots.perimeter import Classement
from agora_bridge.storage.livraisons import A_FAIRE, PARQUE
from agora_bridge.storage.models import Dossier, EtatAgora, Livraison, Reprise
from agora_bridge.storage.orientation_entries import entry_report

# Parked dossiers listed per code, and codes listed: enough to start looking, bounded.
EXAMPLES_PER_CODE = 5
LATE_LISTED = 20
# Without a running engine in this process the circuit is not known here.
UNKNOWN = "inconnu"


@dataclass(frozen=True, slots=True)
class EngineView:
    """What this process's sync engine knows: its counters and its circuit."""

    stats: DeliveryStats
    circuit: str
    circuit_openings: int


class FileAttente(BaseModel):
    par_etat: dict[str, int]
    a_faire: int
    # The engine plans at send time (docs/DELIVERY.md): a pending dossier AGORA does not know
    # yet starts with `Creer`, the others with a change of an existing dossier.
    a_faire_par_operation: dict[str, int]
    dues_maintenant: int
    plus_ancienne_attente_s: float | None


class Parque(BaseModel):
    nombre: int
    exemples: list[str]  # dossier keys (id_dossier)


class Circuit(BaseModel):
    etat: str  # closed, open, half-open, or inconnu (no engine in this process)
    ouvertures: int | None


class RepriseEtat(BaseModel):
    id: str
    fichier: str
    since_date: date
    lignes_lues: int
    lecture_finie: bool
    termine: bool
    created_at: datetime
    rapport: dict[str, Any]


class Retenus(BaseModel):
    # Work items the planner holds (`livraison.motif_retenue`), and stored snapshots the
    # perimeter holds (`dossier.motif`, e.g. NIR_ABSENT): both wait for a correction.
    livraisons: dict[str, int]
    snapshots: dict[str, int]


class RetardsEntree(BaseModel):
    comptes: dict[str, int]
    exemples: dict[str, list[str]]  # orientation ids


class TeteRegistre(BaseModel):
    id: int
    hash: str
    recorded_at: datetime


class OpsStatus(BaseModel):
    genere_at: datetime
    file: FileAttente
    parques: dict[str, Parque]
    parques_total: int
    retenus: Retenus
    derniere_reussite_agora: datetime | None
    circuit: Circuit
    reprise: RepriseEtat | None
    retards_entree: RetardsEntree
    registre: TeteRegistre | None
    reconciliation: dict[str, Any] | None
    debit: list[Minute]


async def read_status(
    session: AsyncSession, *, now: datetime, today: date, engine: EngineView | None
) -> OpsStatus:
    """Everything the ops status shows: reads only (the entry-matching pass is applied to
    the report, not recorded)."""
    queue = await queue_status(session, now=now)
    return OpsStatus(
        genere_at=now,
        file=await _file(session, queue),
        parques=await _parked(session, queue),
        parques_total=queue.parked,
        retenus=Retenus(livraisons=queue.held_by_reason, snapshots=await _held_snapshots(session)),
        derniere_reussite_agora=await _last_success(session, engine),
        circuit=_circuit(engine),
        reprise=await latest_reprise(session),
        retards_entree=await _late_entries(session, today),
        registre=await _ledger_head(session),
        reconciliation=await last_run(session),
        debit=await per_minute(session, since=now - timedelta(hours=1), until=now),
    )


async def _file(session: AsyncSession, queue: QueueStatus) -> FileAttente:
    known = exists().where(EtatAgora.id_dossier == Livraison.id_dossier)
    creations = await session.scalar(
        select(func.count()).select_from(Livraison).where(Livraison.etat == A_FAIRE, ~known)
    )
    pending = queue.by_etat.get(A_FAIRE, 0)
    return FileAttente(
        par_etat=queue.by_etat,
        a_faire=pending,
        a_faire_par_operation={"Creer": creations or 0, "Modifier": pending - (creations or 0)},
        dues_maintenant=queue.due_now,
        plus_ancienne_attente_s=queue.oldest_pending_age_s,
    )


async def _parked(session: AsyncSession, queue: QueueStatus) -> dict[str, Parque]:
    """Counts from `queue_status`; the newest examples of every code in one pass over the
    parked items (a window per code), not one query a code."""
    newest = func.row_number().over(
        partition_by=Livraison.code, order_by=(Livraison.parked_at.desc(), Livraison.id_dossier)
    )
    ranked = (
        select(Livraison.code, Livraison.id_dossier, newest.label("rang"))
        .where(Livraison.etat == PARQUE)
        .subquery()
    )
    rows = await session.execute(
        select(ranked.c.code, ranked.c.id_dossier)
        .where(ranked.c.rang <= EXAMPLES_PER_CODE)
        .order_by(ranked.c.code, ranked.c.rang)
    )
    examples: dict[str, list[str]] = {}
    for code, id_dossier in rows:
        # `queue_status` names a parked item without a code "None".
        examples.setdefault(str(code), []).append(id_dossier)
    return {
        code: Parque(nombre=count, exemples=examples.get(code, []))
        for code, count in sorted(queue.parked_by_code.items())
    }


async def _held_snapshots(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(Dossier.motif, func.count())
        .where(Dossier.classement == Classement.RETENU.value)
        .group_by(Dossier.motif)
    )
    return {str(motif): count for motif, count in rows.all()}


async def _last_success(session: AsyncSession, engine: EngineView | None) -> datetime | None:
    """AGORA's latest acknowledgement stored (any replica, the backfill too), or this
    process's latest success when more recent (a read back changes no acknowledgement)."""
    stored: datetime | None = await session.scalar(select(func.max(EtatAgora.acquitte_at)))
    local = engine.stats.last_success_at if engine is not None else None
    known = [moment for moment in (stored, local) if moment is not None]
    return max(known) if known else None


def _circuit(engine: EngineView | None) -> Circuit:
    if engine is None:
        return Circuit(etat=UNKNOWN, ouvertures=None)
    return Circuit(etat=engine.circuit, ouvertures=engine.circuit_openings)


async def latest_reprise(session: AsyncSession) -> RepriseEtat | None:
    """The latest backfill's progress and its report (the same as `backfill` prints)."""
    row = await session.scalar(select(Reprise).order_by(Reprise.created_at.desc()).limit(1))
    if row is None:
        return None
    progress = progress_of(row)
    report = await backfill_report.load(session, progress)
    return RepriseEtat(
        id=row.id,
        fichier=row.fichier,
        since_date=row.since_date,
        lignes_lues=row.lignes_lues,
        lecture_finie=progress.lecture_finie,
        termine=progress.termine,
        created_at=row.created_at,
        rapport=report.to_json(),
    )


async def _late_entries(session: AsyncSession, today: date) -> RetardsEntree:
    # A status read writes nothing: no write lock taken behind the ingest's back, a read-only
    # database role suffices, and a page refreshing itself changes no row.
    report = await entry_report(session, today=today, record=False)
    return RetardsEntree(
        comptes=dict(report.comptes),
        exemples={ecart: ids[:LATE_LISTED] for ecart, ids in report.orientations.items()},
    )


async def _ledger_head(session: AsyncSession) -> TeteRegistre | None:
    entry = await ledger.head(session)
    if entry is None:
        return None
    return TeteRegistre(id=entry.id, hash=entry.hash, recorded_at=entry.recorded_at)
