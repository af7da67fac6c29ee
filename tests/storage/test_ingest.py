"""Ingest, on SQLite and PostgreSQL: a line the database refuses never takes its batch down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from agora_bridge.settings import DEFAULT_EXCLUDED
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.perimeter import Perimeter
from agora_bridge.snapshots.validation import FieldError, Rejection
from agora_bridge.storage.db import make_sessionmaker
from agora_bridge.storage.ingest import (
    REFUS_BASE,
    Ingestion,
    IngestReport,
    RejectedLine,
    ingest_lines,
    ingest_parsed,
)
from agora_bridge.storage.models import Dossier
from tests.builders import TODAY, snapshot_line
from tests.storage.builders import NOW, crypto, nir, snapshot

Sessions = async_sessionmaker[AsyncSession]
INGESTION = Ingestion(today=TODAY, now=NOW, perimeter=Perimeter(DEFAULT_EXCLUDED), crypto=crypto())
BEYOND_64_BITS = 2**63  # valid for the model, refused by both databases' BIGINT
NUL_TITLE = "Soudeur\x00TIG"  # PostgreSQL's jsonb refuses \u0000; SQLite stores it


def dossier(order: int, **changes: Any) -> Snapshot:
    return snapshot(id_dossier=f"PDL-{order}", nir=nir(order), **changes)


def with_title(item: Snapshot, intitule: str) -> Snapshot:
    """`item` with a title validation would refuse: injected after validation, on purpose."""
    return item.model_copy(update={"action": item.action.model_copy(update={"intitule": intitule})})


def refused_by_both(order: int) -> Snapshot:
    return dossier(order).model_copy(update={"version": BEYOND_64_BITS})


def numbered(*items: Snapshot | Rejection) -> list[tuple[int, Snapshot | Rejection]]:
    return list(enumerate(items, 1))


async def ingest(sessions: Sessions, items: list[Any], *, batch_size: int = 500) -> IngestReport:
    return await ingest_parsed(sessions, items, INGESTION, batch_size=batch_size)


async def stored_versions(sessions: Sessions) -> dict[str, int]:
    async with sessions() as session:
        rows = await session.execute(select(Dossier.id_dossier, Dossier.version))
        return dict(rows.all())


def refused(ligne: int, id_dossier: str) -> RejectedLine:
    return RejectedLine(ligne, Rejection(id_dossier, (REFUS_BASE,)))


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every SQL statement sent through `engine` inside the block."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_a_refused_line_never_takes_its_batch_down(session_maker: Sessions) -> None:
    items = numbered(dossier(1), dossier(2), refused_by_both(3), dossier(4), dossier(5))
    report = await ingest(session_maker, items)
    assert report.outcomes == {"ACCEPTE": 4, "REJETE": 1}
    assert report.classes == {"ENVOYABLE": 4}
    assert report.rejected == [refused(3, "PDL-3")]
    assert await stored_versions(session_maker) == {f"PDL-{n}": 1 for n in (1, 2, 4, 5)}


async def test_other_batches_are_untouched(session_maker: Sessions) -> None:
    items = numbered(*(refused_by_both(n) if n in (4, 6) else dossier(n) for n in range(1, 8)))
    report = await ingest(session_maker, items, batch_size=2)
    assert report.rejected == [refused(4, "PDL-4"), refused(6, "PDL-6")]
    assert set(await stored_versions(session_maker)) == {f"PDL-{n}" for n in (1, 2, 3, 5, 7)}


async def test_a_nul_in_a_text_field(session_maker: Sessions, database_url: str) -> None:
    items = numbered(dossier(1), with_title(dossier(2), NUL_TITLE), dossier(3))
    report = await ingest(session_maker, items)
    if database_url.startswith("postgresql"):
        assert report.rejected == [refused(2, "PDL-2")]
        assert set(await stored_versions(session_maker)) == {"PDL-1", "PDL-3"}
    else:  # SQLite stores it as it is; validation is where such a line is refused
        assert report.outcomes == {"ACCEPTE": 3}
        assert len(await stored_versions(session_maker)) == 3


async def test_a_refused_newer_version_leaves_the_stored_one(session_maker: Sessions) -> None:
    await ingest(session_maker, numbered(dossier(1, statut="VALIDE")))
    newer = dossier(1, version=2).model_copy(update={"version": BEYOND_64_BITS})
    report = await ingest(session_maker, numbered(dossier(2), newer, dossier(1, version=3)))
    assert report.rejected == [refused(2, "PDL-1")]
    # The line after the refused one, a newer version of the same dossier, still goes in.
    assert await stored_versions(session_maker) == {"PDL-1": 3, "PDL-2": 1}


async def test_the_happy_path_takes_no_savepoint(migrated_engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(migrated_engine)
    with statements(migrated_engine) as clean:
        await ingest(sessions, numbered(*(dossier(n) for n in range(1, 6))))
    assert clean
    assert not [s for s in clean if "SAVEPOINT" in s.upper()]
    with statements(migrated_engine) as fallback:
        await ingest(sessions, numbered(dossier(6), refused_by_both(7), dossier(8)))
    # One savepoint per item, only in the batch that met a refusal.
    assert sum(s.upper().startswith("SAVEPOINT") for s in fallback) == 3


async def test_a_failing_database_is_not_a_refusal(migrated_engine: AsyncEngine) -> None:
    """A missing table would refuse every line: the import stops instead of rejecting all."""
    async with migrated_engine.begin() as connection:
        await connection.execute(text("DROP TABLE dossier"))
    with pytest.raises(SQLAlchemyError):
        await ingest(make_sessionmaker(migrated_engine), numbered(dossier(1), dossier(2)))


async def test_the_refusal_is_logged_without_any_value(session_maker: Sessions) -> None:
    secret_title = "Soudeur\x00Dupont-Secret"
    items = numbered(with_title(refused_by_both(1), secret_title))
    with capture_logs() as logs:
        report = await ingest(session_maker, items)
    assert report.rejected == [refused(1, "PDL-1")]
    events = {entry["event"]: entry for entry in logs}
    assert events["ingest.line.rejected"]["erreurs"] == ["ligne:REFUS_BASE"]
    assert events["ingest.line.refused"]["ligne"] == 1
    assert events["ingest.line.refused"]["cause"]  # the driver's error class, for the operator
    logged = json.dumps(logs, default=str)
    for value in ("Dupont-Secret", str(BEYOND_64_BITS), nir(1), nir(1)[:13]):
        assert value not in logged


async def test_lines_are_parsed_then_stored(session_maker: Sessions) -> None:
    lines = [
        snapshot_line(id_dossier="PDL-A", **{"stagiaire.nir": None}),
        snapshot_line(id_dossier="PDL-B", **{"organisme.siret": "73282932000075"}),
        "{not json",
        snapshot_line(id_dossier="PDL-C", **{"programme.categorie": "VAE"}),
        snapshot_line(id_dossier="PDL-A", version=1),
    ]
    numbered_lines = [(n, line.encode()) for n, line in enumerate(lines, 1)]
    report = await ingest_lines(session_maker, numbered_lines, INGESTION)
    assert report.outcomes == {"ACCEPTE": 2, "REJETE": 2, "IGNORE_VERSION_ANCIENNE": 1}
    assert report.classes == {"RETENU:NIR_ABSENT": 1, "EXCLU:CATEGORIE_VAE": 1}
    assert report.rejected == [
        RejectedLine(2, Rejection("PDL-B", (FieldError("organisme.siret", "SIRET_INVALIDE"),))),
        RejectedLine(3, Rejection(None, (FieldError("ligne", "JSON_INVALIDE"),))),
    ]
