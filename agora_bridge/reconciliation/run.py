"""`reconcile`: read dossiers back from AGORA, compare each with what AGORA acknowledged to us,
and hand every drifted one to the sync engine (`docs/DELIVERY.md`, interleaving 14).

The hand-over is the engine's own path after an ambiguous failure: the work item reopens with
`verifier` set, so the engine reads AGORA first, plans from what it holds and sends what
differs (`storage.livraisons.reverify`). A dossier AGORA no longer has loses its acknowledged
state: the engine searches for it, then creates it again.

Reads go through the one AGORA client, so its rate ceiling (`AGORA__MAX_RPS`) bounds them,
a few at a time; a circuit breaker with the engine's settings stops the run when AGORA keeps
failing. Each page of reads is recorded in one transaction: the hand-overs and one
`reconcile.read` ledger entry per read (ids and codes only).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.agora.client import AgoraClient
from agora_bridge.agora.errors import AgoraError
from agora_bridge.agora.mapping import from_wire
from agora_bridge.decision.dossier import AgoraDossier
from agora_bridge.decision.drift import differences
from agora_bridge.delivery import acknowledged
from agora_bridge.delivery.breaker import Breaker
from agora_bridge.delivery.engine import utc_now
from agora_bridge.delivery.outcomes import is_failure, issue_of
from agora_bridge.ledger.chain import Entry
from agora_bridge.ledger.store import append
from agora_bridge.logs import get_logger
from agora_bridge.reconciliation import runs
from agora_bridge.reconciliation.candidates import Candidate, every_page, sample_pages
from agora_bridge.reconciliation.report import Ecart, Report
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.executor import on_session
from agora_bridge.storage.livraisons import reverify

log = get_logger(__name__)
# Reads in flight at once: enough to keep up with the rate ceiling over a slow link, few
# enough that a run beside the engine takes little of AGORA's patience.
READS_IN_FLIGHT = 4
ABSENT_CODE = "DOSSIER_INCONNU"


@dataclass(frozen=True, slots=True)
class Lecture:
    """One read of one candidate: AGORA's dossier, its absence, or why it failed."""

    candidate: Candidate
    request_id: str
    status: int | None
    held: AgoraDossier | None = None
    failure: str | None = None  # the code of a read that failed

    @property
    def absent(self) -> bool:
        return self.held is None and self.failure is None


def drifted(candidate: Candidate, held: AgoraDossier, crypto: NirCrypto) -> tuple[str, ...]:
    """The fields AGORA holds otherwise than it acknowledged. The acknowledged titulaire is
    a digest: AGORA's titulaire stands in for it when the digests match."""
    same_holder = acknowledged.digest(held.titulaire, crypto) == candidate.titulaire_index
    ours = acknowledged.decode(candidate.acquitte, held.titulaire if same_holder else None)
    return differences(ours, held)


class Reconciliation:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: AgoraClient,
        crypto: NirCrypto,
        *,
        breaker: Breaker,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._crypto = crypto
        self._breaker = breaker
        self._clock = clock
        self._slots = asyncio.Semaphore(READS_IN_FLIGHT)

    async def run(self, pages: AsyncIterator[list[Candidate]], report: Report) -> Report:
        async for page in pages:
            now = self._clock()
            free = [c for c in page if not c.busy(now)]
            report.occupes += len(page) - len(free)
            reads = await asyncio.gather(*(self._read(c) for c in free))
            await self._record([r for r in reads if r is not None], report)
            if any(read is None for read in reads):  # the breaker opened: AGORA is failing
                report.interrompu = True
                break
        log.info("reconcile.done", **{k: v for k, v in report.as_json().items() if k != "dossiers"})
        return report

    async def _read(self, candidate: Candidate) -> Lecture | None:
        async with self._slots:
            if self._breaker.wait_s() is not None:
                return None
            request_id = str(uuid.uuid4())
            try:
                dossier = await self._client.lire(
                    id_agora=candidate.id_agora, request_id=request_id
                )
            except AgoraError as error:
                self._count(failed=is_failure(issue_of(error)))
                if error.status == 404 and error.code == ABSENT_CODE:
                    return Lecture(candidate, request_id, 404)
                code = error.code or issue_of(error).value
                return Lecture(candidate, request_id, error.status, failure=code)
            self._count(failed=False)
            return Lecture(candidate, request_id, 200, held=from_wire(dossier))

    def _count(self, *, failed: bool) -> None:
        """A business answer (404 included) is a success for the breaker: AGORA is up."""
        if failed:
            self._breaker.failure()
        else:
            self._breaker.success()

    async def _record(self, reads: list[Lecture], report: Report) -> None:
        if not reads:
            return
        async with self._sessions() as session, session.begin():
            entries = [await self._verdict(session, read, report) for read in reads]
            await append(on_session(session), entries)

    async def _verdict(self, session: AsyncSession, read: Lecture, report: Report) -> Entry:
        """Count `read`, hand it over when it drifted; its ledger entry."""
        if read.failure is not None:
            report.echecs[read.failure] += 1
            return self._entry(read, read.failure)
        report.lus += 1
        champs = () if read.held is None else drifted(read.candidate, read.held, self._crypto)
        if not champs and not read.absent:
            report.conformes += 1
            return self._entry(read, "CONFORME")
        if not await self._hand_over(session, read):
            report.occupes += 1
            return self._entry(read, "OCCUPE")
        ecart = Ecart(read.candidate.id_dossier, read.candidate.id_agora, champs, read.absent)
        report.ecarts.append(ecart)
        log.info("reconcile.drift", **ecart.as_json())
        return self._entry(read, "ABSENT" if read.absent else "ECART")

    async def _hand_over(self, session: AsyncSession, read: Lecture) -> bool:
        candidate = read.candidate
        return await reverify(
            session,
            candidate.id_dossier,
            acknowledged_at=candidate.acquitte_at,
            forget=read.absent,
            now=self._clock(),
        )

    def _entry(self, read: Lecture, code: str) -> Entry:
        return Entry(
            recorded_at=self._clock(),
            kind="reconcile.read",
            id_dossier=read.candidate.id_dossier,
            operation="Lire",
            request_id=read.request_id,
            http_status=read.status,
            code=code,
        )


async def reconcile(
    sessions: async_sessionmaker[AsyncSession],
    client: AgoraClient,
    crypto: NirCrypto,
    *,
    sample: int | None,
    seed: int | None = None,
    breaker: Breaker | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Report:
    """Every acknowledged dossier (`sample` None) or `sample` of them drawn with `seed` (a
    fresh one, reported, when None); the run's counts are kept (`runs.last_run`)."""
    started_at = clock()
    work = Reconciliation(sessions, client, crypto, breaker=breaker or Breaker(), clock=clock)
    if sample is None:
        report = await work.run(every_page(sessions), Report("tout"))
    else:
        seed = secrets.randbits(32) if seed is None else seed
        pages = sample_pages(sessions, sample, random.Random(seed))  # noqa: S311 (no secret)
        report = await work.run(pages, Report("echantillon", graine=seed))
    async with sessions() as session, session.begin():
        await runs.record(session, report, started_at=started_at, finished_at=clock())
    return report
