"""Ingest, on SQLite and PostgreSQL: each stored snapshot's work item and ledger entry come in
its transaction, in a few statements per batch whatever its size."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agora_bridge.ledger.store import read_chain, verify_ledger
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.validation import FieldError, Rejection
from agora_bridge.storage.db import make_sessionmaker
from agora_bridge.storage.ingest import Ingestion, ingest_parsed
from agora_bridge.storage.models import Dossier, Livraison
from tests.storage.test_ingest import (
    INGESTION,
    dossier,
    ingest,
    numbered,
    refused_by_both,
    statements,
)

Sessions = async_sessionmaker[AsyncSession]
LATER = Ingestion(
    today=INGESTION.today,
    now=INGESTION.now + timedelta(hours=1),
    perimeter=INGESTION.perimeter,
    crypto=INGESTION.crypto,
)


async def work_items(sessions: Sessions) -> dict[str, tuple[str, int]]:
    async with sessions() as session:
        rows = await session.execute(
            select(Livraison.id_dossier, Livraison.etat, Livraison.generation)
        )
        return {key: (etat, generation) for key, etat, generation in rows.all()}


async def test_each_accepted_snapshot_makes_its_dossier_due(session_maker: Sessions) -> None:
    held = dossier(2).model_copy(
        update={"stagiaire": dossier(2).stagiaire.model_copy(update={"nir": None})}
    )
    excluded = dossier(3, **{"programme.categorie": "VAE"})
    await ingest(session_maker, numbered(dossier(1), held, excluded))
    # Sendable and held dossiers get a work item; an excluded one AGORA never saw does not.
    assert await work_items(session_maker) == {"PDL-1": ("A_FAIRE", 1), "PDL-2": ("A_FAIRE", 1)}


async def test_a_newer_version_reopens_a_parked_item(session_maker: Sessions) -> None:
    await ingest(session_maker, numbered(dossier(1), dossier(3)))
    async with session_maker() as session, session.begin():
        await session.execute(
            update(Livraison).values(etat="PARQUE", code="DATE_INCOHERENTE", message="m")
        )
    excluded_now = dossier(3, version=2, **{"programme.categorie": "VAE"})
    report = await ingest(session_maker, numbered(dossier(1, version=2), dossier(1), excluded_now))
    assert report.outcomes == {"ACCEPTE": 2, "IGNORE_VERSION_ANCIENNE": 1}
    # Known dossiers reopen even when excluded now: the engine decides (hold or nothing).
    assert await work_items(session_maker) == {"PDL-1": ("A_FAIRE", 2), "PDL-3": ("A_FAIRE", 2)}
    async with session_maker() as session:
        item = await session.get(Livraison, "PDL-1")
        assert item is not None
        assert (item.code, item.message) == (None, None)


async def test_a_backoff_in_progress_keeps_its_schedule(session_maker: Sessions) -> None:
    await ingest(session_maker, numbered(dossier(1)))
    retry_at = INGESTION.now + timedelta(hours=2)
    async with session_maker() as session, session.begin():
        await session.execute(update(Livraison).values(due_at=retry_at, attempts=3))
    await ingest_later(session_maker, dossier(1, version=2))
    async with session_maker() as session:
        item = await session.get(Livraison, "PDL-1")
        assert item is not None
        assert (item.due_at, item.attempts, item.generation) == (retry_at, 3, 2)


async def ingest_later(sessions: Sessions, *items: Snapshot) -> None:
    await ingest_parsed(sessions, numbered(*items), LATER)


async def test_every_decision_is_in_the_ledger(session_maker: Sessions) -> None:
    broken = Rejection("PDL-9", (FieldError("organisme.siret", "SIRET_INVALIDE"),))
    await ingest(session_maker, numbered(dossier(1), dossier(1), broken))
    async with session_maker() as session:
        entries = [link.entry async for link in read_chain(session)]
        assert (await verify_ledger(session)).intact
    assert [(e.kind, e.id_dossier, e.version, e.operation, e.code) for e in entries] == [
        ("snapshot.decision", "PDL-1", 1, "ACCEPTE", "ENVOYABLE"),
        ("snapshot.decision", "PDL-1", 1, "IGNORE_VERSION_ANCIENNE", "ENVOYABLE"),
        ("snapshot.decision", "PDL-9", None, "REJETE", "SIRET_INVALIDE"),
    ]


async def test_a_batch_is_a_few_statements_whatever_its_size(
    migrated_engine: AsyncEngine,
) -> None:
    sessions = make_sessionmaker(migrated_engine)
    with statements(migrated_engine) as small:
        await ingest(sessions, numbered(*(dossier(n) for n in range(1, 4))))
    with statements(migrated_engine) as large:
        await ingest(sessions, numbered(*(dossier(n) for n in range(100, 400))))
    assert len(large) == len(small) <= 10
    async with sessions() as session:
        stored = (await session.execute(select(Dossier.id_dossier))).scalars().all()
    assert len(stored) == 303


async def test_refused_and_unreadable_lines_are_decisions_too(session_maker: Sessions) -> None:
    odd = Rejection("PDL\x00" + "X" * 80, (FieldError("id_dossier", "FORMAT_INVALIDE"),))
    items = numbered(dossier(1), refused_by_both(2), odd)
    report = await ingest(session_maker, items)
    assert report.outcomes == {"ACCEPTE": 1, "REJETE": 2}
    async with session_maker() as session:
        entries = [link.entry async for link in read_chain(session)]
    assert [(e.id_dossier, e.version, e.operation, e.code) for e in entries] == [
        ("PDL-1", 1, "ACCEPTE", "ENVOYABLE"),
        ("PDL-2", None, "REJETE", "REFUS_BASE"),
        (None, None, "REJETE", "FORMAT_INVALIDE"),
    ]
