"""Ingest snapshots: validate, classify and store each one, batch by batch.

The same semantics serve the `import` command, the demo and the ingest API: one bad line
never stops the others, and a rejected line is reported with its number and rules. That
holds for a line the database refuses too, whatever the reason (a NUL that PostgreSQL's jsonb
refuses, a number beyond 64 bits...): it is rejected `REFUS_BASE` and its batch is stored.

A batch is one transaction of a few statements, whatever its size: the snapshots (one
upsert), their work items (`livraison`, one upsert: the delivery engine's queue), one
`snapshot.decision` ledger entry per line, and a `RETENU` event of the return flow for each
snapshot held at classification. So a snapshot is never stored without the work
it implies, nor acknowledged before both are durable.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from itertools import islice

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.ledger.chain import Entry
from agora_bridge.ledger.store import append
from agora_bridge.logs import get_logger
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.perimeter import Classement, Classification, Perimeter, classify
from agora_bridge.snapshots.validation import FieldError, Rejection, parse_line
from agora_bridge.storage import retours
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.db import is_refusal, refusal_cause
from agora_bridge.storage.dossiers import Sealed, StoreOutcome, store_snapshot, store_snapshots
from agora_bridge.storage.executor import on_session
from agora_bridge.storage.livraisons import reopen
from agora_bridge.storage.retours import Evenement, Event

log = get_logger(__name__)

# Not a rule of the input: the database would not store the line. The log names the driver's
# error class and SQLSTATE; no report carries the value.
REFUS_BASE = FieldError("ligne", "REFUS_BASE")
# What a database refusal can raise: SQLAlchemy's errors, and sqlite3's OverflowError, which
# SQLAlchemy does not wrap. `is_refusal` tells a refusal from a failing database.
_DATABASE_ERRORS = (SQLAlchemyError, OverflowError)
# The Région's key, as `region-input.md` defines it.
_ID_DOSSIER = re.compile(r"[A-Za-z0-9._/-]{1,64}")
# The report lists this many rejected lines (an ingest API request holds at most 1,000
# snapshots); the log has every one.
LISTED_REJECTIONS = 1000


@dataclass(frozen=True, slots=True)
class RejectedLine:
    ligne: int
    rejection: Rejection


@dataclass(frozen=True, slots=True)
class LineOutcome:
    """One line's outcome, for a caller that answers line by line (the ingest API)."""

    ligne: int
    resultat: str  # ACCEPTE, IGNORE_VERSION_ANCIENNE, REJETE
    id_dossier: str | None
    classification: Classification | None = None  # of an accepted snapshot
    erreurs: tuple[FieldError, ...] = ()  # of a rejected line


@dataclass
class IngestReport:
    outcomes: Counter[str] = field(default_factory=Counter)  # ACCEPTE, IGNORE_…, REJETE
    # Accepted snapshots by classification: `ENVOYABLE`, `EXCLU:<reason>`, `RETENU:<reason>`.
    classes: Counter[str] = field(default_factory=Counter)
    rejected: list[RejectedLine] = field(default_factory=list)  # the first LISTED_REJECTIONS
    # Every line's outcome, only when the caller passes a list (a file may have millions).
    lines: list[LineOutcome] | None = None

    def reject(self, ligne: int, rejection: Rejection) -> None:
        self.outcomes["REJETE"] += 1
        if len(self.rejected) < LISTED_REJECTIONS:
            self.rejected.append(RejectedLine(ligne, rejection))
        if self.lines is not None:
            outcome = LineOutcome(ligne, "REJETE", rejection.id_dossier, None, rejection.erreurs)
            self.lines.append(outcome)
        codes = [f"{e.champ}:{e.code}" for e in rejection.erreurs]
        log.info(
            "ingest.line.rejected", ligne=ligne, id_dossier=rejection.id_dossier, erreurs=codes
        )


@dataclass(frozen=True)
class Ingestion:
    """What ingesting needs besides the lines: the clock, the perimeter, the NIR keys."""

    today: date
    now: datetime
    perimeter: Perimeter
    crypto: NirCrypto
    # The backfill's cut-off (`AVANT_REPRISE`); the synchronous flows have none.
    since: date | None = None


@dataclass(frozen=True, slots=True)
class ValidLine:
    ligne: int
    snapshot: Snapshot | Sealed  # Sealed: parsed, classified and sealed elsewhere (a pool)
    classification: Classification


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """What one batch stored, for work a caller adds to the batch's own transaction."""

    last_line: int
    valid: list[ValidLine]
    outcomes: list[StoreOutcome | None]  # None: the database refused the line
    rejected: list[Rejection]


# Run in the batch's transaction, after its snapshots, work items and ledger entries.
BatchHook = Callable[[AsyncSession, StoredBatch], Awaitable[None]]


async def ingest_lines(
    session_maker: async_sessionmaker[AsyncSession],
    lines: Iterable[tuple[int, bytes]],
    ingestion: Ingestion,
    *,
    batch_size: int = 500,
    report: IngestReport | None = None,
    then: BatchHook | None = None,
) -> IngestReport:
    """Parse and store each line (see `ingest_parsed`)."""
    parsed = ((number, parse_line(line, today=ingestion.today)) for number, line in lines)
    return await ingest_parsed(
        session_maker, parsed, ingestion, batch_size=batch_size, report=report, then=then
    )


async def ingest_parsed(
    session_maker: async_sessionmaker[AsyncSession],
    items: Iterable[tuple[int, Snapshot | Rejection | ValidLine]],
    ingestion: Ingestion,
    *,
    batch_size: int = 500,
    report: IngestReport | None = None,
    then: BatchHook | None = None,
) -> IngestReport:
    """Store each valid snapshot, one transaction a batch: a crash loses at most the batch in
    flight, never acknowledged, and importing it again is harmless (versions decide). Outcomes
    are counted once their batch is committed, into `report` when given. `then` adds its own
    statements to each batch's transaction (the backfill's progress). An item already a
    `ValidLine` was classified by the caller (the backfill's reading pool)."""
    report = report if report is not None else IngestReport()
    iterator = iter(items)
    while batch := list(islice(iterator, batch_size)):
        valid = [_classified(ligne, result, ingestion, report) for ligne, result in batch]
        stored = [item for item in valid if item is not None]
        rejected = [result for _, result in batch if isinstance(result, Rejection)]
        outcomes = await _store_batch(
            session_maker, _Batch(batch[-1][0], stored, rejected), ingestion, then
        )
        for item, outcome in zip(stored, outcomes, strict=True):
            _record(report, item, outcome)
        log.info("ingest.batch.stored", lines=len(batch), **report.outcomes)
    return report


def _classified(
    ligne: int,
    result: Snapshot | Rejection | ValidLine,
    ingestion: Ingestion,
    report: IngestReport,
) -> ValidLine | None:
    if isinstance(result, Rejection):
        report.reject(ligne, result)
        return None
    if isinstance(result, ValidLine):
        return result
    return ValidLine(ligne, result, classify(result, ingestion.perimeter, since=ingestion.since))


def _record(report: IngestReport, item: ValidLine, outcome: StoreOutcome | None) -> None:
    if outcome is None:
        report.reject(item.ligne, Rejection(item.snapshot.id_dossier, (REFUS_BASE,)))
        return
    report.outcomes[_OPERATION[outcome]] += 1
    if report.lines is not None:
        accepted = outcome is _ACCEPTE
        classification = item.classification if accepted else None
        id_dossier = item.snapshot.id_dossier
        line = LineOutcome(item.ligne, _OPERATION[outcome], id_dossier, classification)
        report.lines.append(line)
    if outcome is _ACCEPTE:
        report.classes[_code(item.classification)] += 1


@dataclass(frozen=True, slots=True)
class _Batch:
    last_line: int
    items: list[ValidLine]
    rejected: list[Rejection]


async def _store_batch(
    session_maker: async_sessionmaker[AsyncSession],
    batch: _Batch,
    ingestion: Ingestion,
    then: BatchHook | None,
) -> list[StoreOutcome | None]:
    """Every item in one transaction, without a savepoint: the path of nearly every batch.
    When the database refuses an item, the batch is rolled back and stored again item by
    item, each under a savepoint, and only the refused ones (None) are left out."""
    items, rejected = batch.items, batch.rejected
    try:
        async with session_maker() as session, session.begin():
            pairs = [(item.snapshot, item.classification) for item in items]
            outcomes: list[StoreOutcome | None] = list(
                await store_snapshots(session, pairs, ingestion.crypto, now=ingestion.now)
            )
            await _decided(session, items, outcomes, rejected, ingestion)
            await _then(session, batch, outcomes, then)
            return outcomes
    except _DATABASE_ERRORS as error:
        if not is_refusal(error):
            raise
        log.warning("ingest.batch.refused", lines=len(items), cause=refusal_cause(error))
    async with session_maker() as session, session.begin():
        alone = [await _store_alone(session, item, ingestion) for item in items]
        await _decided(session, items, alone, rejected, ingestion)
        await _then(session, batch, alone, then)
        return alone


async def _then(
    session: AsyncSession,
    batch: _Batch,
    outcomes: list[StoreOutcome | None],
    then: BatchHook | None,
) -> None:
    if then is not None:
        stored = StoredBatch(batch.last_line, batch.items, outcomes, batch.rejected)
        await then(session, stored)


async def _store_alone(
    session: AsyncSession, item: ValidLine, ingestion: Ingestion
) -> StoreOutcome | None:
    try:
        async with session.begin_nested():
            return await store_snapshot(
                session, item.snapshot, item.classification, ingestion.crypto, now=ingestion.now
            )
    except _DATABASE_ERRORS as error:
        if not is_refusal(error):
            raise
        id_dossier, cause = item.snapshot.id_dossier, refusal_cause(error)
        log.warning("ingest.line.refused", ligne=item.ligne, id_dossier=id_dossier, cause=cause)
        return None


async def _decided(
    session: AsyncSession,
    items: list[ValidLine],
    outcomes: list[StoreOutcome] | list[StoreOutcome | None],
    rejected: list[Rejection],
    ingestion: Ingestion,
) -> None:
    """What the stored snapshots imply, in their transaction: due work items and the
    ledger's `snapshot.decision` entries (ids, versions and codes only)."""
    accepted = [item for item, outcome in zip(items, outcomes, strict=True) if outcome is _ACCEPTE]
    excluded: list[str] = []
    needing: list[str] = []
    for item in accepted:
        excludes = item.classification.classement is _EXCLU
        (excluded if excludes else needing).append(item.snapshot.id_dossier)
    await reopen(session, upsert=needing, existing=excluded, now=ingestion.now)
    entries = [
        _decision(item, outcome, ingestion)
        if outcome is not None
        else _rejection(Rejection(item.snapshot.id_dossier, (REFUS_BASE,)), ingestion)
        for item, outcome in zip(items, outcomes, strict=True)
    ]
    entries += [_rejection(rejection, ingestion) for rejection in rejected]
    await append(on_session(session), entries)
    await retours.record(
        on_session(session), [_held(item, ingestion) for item in accepted if _is_held(item)]
    )


# Members read once: in Python 3.11 each `.value` or `Enum.MEMBER` costs a descriptor call,
# and the loops above run once a line.
_ACCEPTE, _EXCLU, _RETENU = StoreOutcome.ACCEPTE, Classement.EXCLU, Classement.RETENU
_OPERATION = {outcome: outcome.value for outcome in StoreOutcome}


def _is_held(item: ValidLine) -> bool:
    return item.classification.classement is _RETENU


def _held(item: ValidLine, ingestion: Ingestion) -> Event:
    """A snapshot held at classification (its NIR): the return flow says so at once."""
    snapshot = item.snapshot
    return Event(
        Evenement.RETENU,
        snapshot.id_dossier,
        snapshot.version,
        ingestion.now,
        code=item.classification.motif,
    )


def _decision(item: ValidLine, outcome: StoreOutcome, ingestion: Ingestion) -> Entry:
    return Entry(
        recorded_at=ingestion.now,
        kind="snapshot.decision",
        id_dossier=item.snapshot.id_dossier,
        version=item.snapshot.version,
        operation=_OPERATION[outcome],
        code=_code(item.classification)[:64],
    )


@lru_cache(maxsize=256)
def _code(classification: Classification) -> str:
    """`ENVOYABLE`, `EXCLU:<reason>`, `RETENU:<reason>`: a few values, formatted once each."""
    motif = f":{classification.motif}" if classification.motif else ""
    return classification.classement.value + motif


def _rejection(rejection: Rejection, ingestion: Ingestion) -> Entry:
    """No version: a refused line's may be what the database refused. The id only when it is
    one (a rejected line's may hold anything, a NUL the database would refuse too)."""
    ident = rejection.id_dossier
    return Entry(
        recorded_at=ingestion.now,
        kind="snapshot.decision",
        id_dossier=ident if ident is not None and _ID_DOSSIER.fullmatch(ident) else None,
        operation="REJETE",
        code=rejection.erreurs[0].code if rejection.erreurs else None,
    )
