"""A reprise's durable progress: which file, how far it was read, what its lines were.

The reprise is named by a digest of the file's content, so the same command run again finds
it. Each ingest batch, in its own transaction, sets its sendable dossiers aside for a lot and
advances `lignes_lues` with the report's counts: a crash loses at most the batch in flight,
which the next run reads again.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.errors import OperatorError
from agora_bridge.snapshots.perimeter import Classement
from agora_bridge.storage.db import refresh_statistics
from agora_bridge.storage.dossiers import StoreOutcome
from agora_bridge.storage.ingest import StoredBatch
from agora_bridge.storage.livraisons import A_FAIRE, among_keys
from agora_bridge.storage.models import Dossier, EtatAgora, Livraison, Reprise

_SAMPLE_BYTES = 1024 * 1024
# Core tables: these statements need no unit of work.
_ITEMS = cast(Table, Livraison.__table__)
_REPRISE = cast(Table, Reprise.__table__)


def fingerprint(path: Path) -> str:
    """The file's size and its first and last MiB: cheap on a file of gigabytes, and a file
    exported again (other content) gets another reprise."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as stream:
        digest.update(stream.read(_SAMPLE_BYTES))
        stream.seek(max(0, size - _SAMPLE_BYTES))
        digest.update(stream.read(_SAMPLE_BYTES))
    return digest.hexdigest()[:32]


def marker(reprise_id: str) -> str:
    """`livraison.lot_id` of a dossier set aside for this reprise's lots, not packed yet."""
    return f"A_LOTIR:{reprise_id}"


@dataclass
class Counts:
    """The report's counts. Lines as stored (`import`'s counts: a dossier whose later
    version follows in the file counts under each), sendable dossiers once each."""

    lignes: int = 0
    invalides: int = 0
    versions_ignorees: int = 0
    envoyables: int = 0  # lines
    exclus: Counter[str] = field(default_factory=Counter)
    retenus: Counter[str] = field(default_factory=Counter)
    # Sendable dossiers set aside for the lots.
    mis_de_cote: int = 0
    # Sendable lines of a dossier AGORA or the engine already has: left to the engine.
    au_moteur: int = 0
    # Set aside, but no longer sendable when the lot was packed (a newer snapshot): the engine.
    plus_envoyables: int = 0
    # Dossiers the planner holds when their lot is packed (`REFUS_PREVU_…`): the engine holds
    # them visibly.
    retenus_au_lot: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "lignes": self.lignes,
            "invalides": self.invalides,
            "versions_ignorees": self.versions_ignorees,
            "envoyables": self.envoyables,
            "exclus": dict(self.exclus),
            "retenus": dict(self.retenus),
            "mis_de_cote": self.mis_de_cote,
            "au_moteur": self.au_moteur,
            "plus_envoyables": self.plus_envoyables,
            "retenus_au_lot": dict(self.retenus_au_lot),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Counts:
        return cls(
            lignes=data.get("lignes", 0),
            invalides=data.get("invalides", 0),
            versions_ignorees=data.get("versions_ignorees", 0),
            envoyables=data.get("envoyables", 0),
            exclus=Counter(data.get("exclus", {})),
            retenus=Counter(data.get("retenus", {})),
            mis_de_cote=data.get("mis_de_cote", 0),
            au_moteur=data.get("au_moteur", 0),
            plus_envoyables=data.get("plus_envoyables", 0),
            retenus_au_lot=Counter(data.get("retenus_au_lot", {})),
        )

    def copy(self) -> Counts:
        return Counts.from_json(self.to_json())


@dataclass
class Progress:
    """The reprise as this process knows it; the database row is the truth after a crash."""

    id: str
    since: date
    lignes_lues: int
    counts: Counts
    lecture_finie: bool
    termine: bool


async def open_reprise(
    session: AsyncSession, path: Path, *, since: date, now: datetime
) -> Progress:
    """The file's reprise, created on the first run; a run with another cut-off is refused
    (its lines were classified with the first one)."""
    reprise_id = fingerprint(path)
    row = await session.get(Reprise, reprise_id)
    if row is None:
        row = Reprise(
            id=reprise_id,
            fichier=path.name[:255],
            since_date=since,
            lignes_lues=0,
            compteurs=Counts().to_json(),
            created_at=now,
        )
        session.add(row)
        await session.flush()
    elif row.since_date != since:
        raise OperatorError(
            f"this file's backfill started with --since {row.since_date}: "
            "run it again with that cut-off"
        )
    return progress_of(row)


def progress_of(row: Reprise) -> Progress:
    """The reprise as its row records it."""
    return Progress(
        id=row.id,
        since=row.since_date,
        lignes_lues=row.lignes_lues,
        counts=Counts.from_json(row.compteurs),
        lecture_finie=row.lecture_finie_at is not None,
        termine=row.termine_at is not None,
    )


# The tables the reading grows, analysed each time the lines read have doubled since the
# last analysis (from this many on): about 7 analyses over 1,000,000 lines, each a sample.
_GROWN = (Dossier.__tablename__, Livraison.__tablename__, EtatAgora.__tablename__)
ANALYSED_FROM = 10_000


class Reading:
    """The ingest hook of the reading phase (`ingest.BatchHook`)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        # A resumed reading analyses at its first batch: the statistics may predate the crash.
        self._analysed_at = progress.lignes_lues // 2

    async def __call__(self, session: AsyncSession, batch: StoredBatch) -> None:
        counts = self.progress.counts.copy()
        _count(counts, batch)
        sendable = sorted(
            {v.snapshot.id_dossier for v in batch.valid if v.classification.classement is _SEND}
        )
        if sendable:
            marked, left = await _set_aside(session, sendable, marker(self.progress.id))
            counts.mis_de_cote += marked
            counts.au_moteur += left
        await save_counts(session, self.progress, counts, lignes_lues=batch.last_line)
        if batch.last_line >= max(ANALYSED_FROM, 2 * self._analysed_at):
            await refresh_statistics(session, _GROWN)
            self._analysed_at = batch.last_line


_SEND = Classement.ENVOYABLE


def _count(counts: Counts, batch: StoredBatch) -> None:
    counts.lignes += len(batch.valid) + len(batch.rejected)
    counts.invalides += len(batch.rejected)
    for line, outcome in zip(batch.valid, batch.outcomes, strict=True):
        classement = line.classification.classement
        if outcome is None:
            counts.invalides += 1
        elif outcome is _IGNORED:
            counts.versions_ignorees += 1
        elif classement is _EXCLU:
            counts.exclus[line.classification.motif or ""] += 1
        elif classement is _RETENU:
            counts.retenus[line.classification.motif or ""] += 1
        else:
            counts.envoyables += 1


# Members read once (a descriptor call each time in Python 3.11): this runs once a line.
_IGNORED = StoreOutcome.IGNORE_VERSION_ANCIENNE
_EXCLU, _RETENU = Classement.EXCLU, Classement.RETENU


async def _set_aside(session: AsyncSession, ids: list[str], mark: str) -> tuple[int, int]:
    """Mark for a lot the work items nobody has touched: due, unclaimed, never attempted, and
    no acknowledged state (AGORA does not know the dossier). The others stay with the engine
    (the cut-over). How many were marked, and how many stay with the engine (not counting
    those marked by an earlier batch)."""
    items = _ITEMS.c
    keys = among_keys(session, items.id_dossier)
    untouched = (
        update(_ITEMS)
        .where(
            keys,
            items.lot_id.is_(None),
            items.etat == A_FAIRE,
            items.lease_owner.is_(None),
            items.last_outcome.is_(None),
            items.idempotency_key.is_(None),
            items.verifier.is_(False),
            ~exists().where(EtatAgora.id_dossier == items.id_dossier),
        )
        .values(lot_id=mark)
        .returning(items.id_dossier)
    )
    marked = set((await session.execute(untouched, {"keys": ids})).scalars())
    rest = [key for key in ids if key not in marked]
    if not rest:
        return len(marked), 0
    already = await session.scalars(
        select(items.id_dossier).where(keys, items.lot_id == mark),
        {"keys": rest},
    )
    return len(marked), len(rest) - len(list(already))


async def save_counts(
    session: AsyncSession, progress: Progress, counts: Counts, *, lignes_lues: int | None = None
) -> None:
    """In the caller's transaction; in memory only once the statement succeeded (the commit
    follows at once, and a failed one ends the command)."""
    values: dict[str, Any] = {"compteurs": counts.to_json()}
    if lignes_lues is not None:
        values["lignes_lues"] = lignes_lues
    await session.execute(update(_REPRISE).where(_REPRISE.c.id == progress.id).values(values))
    progress.counts = counts
    if lignes_lues is not None:
        progress.lignes_lues = lignes_lues


async def finish_reading(session: AsyncSession, progress: Progress, *, now: datetime) -> None:
    """The lots are chosen from statistics of the whole file read."""
    if progress.lignes_lues >= ANALYSED_FROM:
        await refresh_statistics(session, _GROWN)
    await session.execute(
        update(_REPRISE).where(_REPRISE.c.id == progress.id).values(lecture_finie_at=now)
    )
    progress.lecture_finie = True


async def finish(session: AsyncSession, progress: Progress, *, now: datetime) -> None:
    statement = update(_REPRISE).where(_REPRISE.c.id == progress.id).values(termine_at=now)
    await session.execute(statement)
    progress.termine = True
