"""Ingest snapshots: validate, classify and store each one, batch by batch.

The same semantics serve the `import` command, the demo and (later) the ingest API: one bad
line never stops the others, and a rejected line is reported with its number and rules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.logs import get_logger
from agora_bridge.snapshots.perimeter import Perimeter, classify
from agora_bridge.snapshots.validation import Rejection, parse_line
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.dossiers import StoreOutcome, store_snapshot

log = get_logger(__name__)


@dataclass
class IngestReport:
    outcomes: Counter[str] = field(default_factory=Counter)  # ACCEPTE, IGNORE_…, REJETE
    # Accepted snapshots by classification: `ENVOYABLE`, `EXCLU:<reason>`, `RETENU:<reason>`.
    classes: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Ingestion:
    """What ingesting needs besides the lines: the clock, the perimeter, the NIR keys."""

    today: date
    now: datetime
    perimeter: Perimeter
    crypto: NirCrypto


async def ingest_lines(
    session_maker: async_sessionmaker[AsyncSession],
    lines: Iterable[tuple[int, bytes]],
    ingestion: Ingestion,
    *,
    batch_size: int = 500,
) -> IngestReport:
    """Store each valid line, one transaction a batch: a crash loses at most the batch in
    flight, never acknowledged, and importing it again is harmless (versions decide)."""
    report = IngestReport()
    iterator = iter(lines)
    while batch := list(islice(iterator, batch_size)):
        async with session_maker() as session, session.begin():
            for number, line in batch:
                await _ingest_one(session, number, line, ingestion, report)
        log.info("ingest.batch.stored", lines=len(batch), **report.outcomes)
    return report


async def _ingest_one(
    session: AsyncSession, number: int, line: bytes, ingestion: Ingestion, report: IngestReport
) -> None:
    result = parse_line(line, today=ingestion.today)
    if isinstance(result, Rejection):
        report.outcomes["REJETE"] += 1
        codes = [f"{e.champ}:{e.code}" for e in result.erreurs]
        log.info("ingest.line.rejected", ligne=number, id_dossier=result.id_dossier, erreurs=codes)
        return
    classification = classify(result, ingestion.perimeter, since=None)
    outcome = await store_snapshot(
        session, result, classification, ingestion.crypto, now=ingestion.now
    )
    report.outcomes[outcome.value] += 1
    if outcome is StoreOutcome.ACCEPTE:
        motif = f":{classification.motif}" if classification.motif else ""
        report.classes[classification.classement.value + motif] += 1
