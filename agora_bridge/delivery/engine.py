"""The sync engine: workers that claim due dossiers and run a reconcile pass over each.

`concurrency` workers run at once, each on its own dossier (never two calls for one dossier,
so one dossier's operations go out in order); a slow or stuck dossier holds only its worker.
Workers share one AGORA client (its token bucket is the engine's rate limit towards AGORA),
one circuit breaker and one recorder (group commit).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from asyncio import FIRST_COMPLETED
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.agora.client import AgoraClient
from agora_bridge.delivery import wakeup
from agora_bridge.delivery.breaker import Breaker
from agora_bridge.delivery.claims import Claim, claim_due
from agora_bridge.delivery.dossier_pass import DossierPass, Parts
from agora_bridge.delivery.recorder import Recorder
from agora_bridge.delivery.stats import DeliveryStats
from agora_bridge.logs import get_logger
from agora_bridge.settings import AgoraSettings, ConfigurationError, SyncSettings
from agora_bridge.storage import executor
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.livraisons import A_FAIRE
from agora_bridge.storage.models import Livraison

log = get_logger(__name__)
# Between two runs: no hot loop even when something is due at once.
_SHORTEST_PAUSE_S = 0.01


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_owner() -> str:
    """Names this process in `lease_owner` (each claim adds its own random token)."""
    return f"{socket.gethostname()[:16]}-{os.getpid()}"


def check_lease(sync: SyncSettings, agora: AgoraSettings) -> None:
    """A lease shorter than the longest call could lapse while the call is in flight, and
    another worker would send the same step (interleaving 3)."""
    longest = agora.timeout_s * agora.retry_attempts + agora.retry_budget_s
    if sync.lease_s <= longest:
        raise ConfigurationError(
            "AGORA_BRIDGE_SYNC__LEASE_S must exceed the longest AGORA call with its retries "
            f"(AGORA__TIMEOUT_S × AGORA__RETRY_ATTEMPTS + AGORA__RETRY_BUDGET_S = {longest:g} s)"
        )


class Engine:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: AgoraClient,
        crypto: NirCrypto,
        settings: SyncSettings,
        *,
        code_financeur: str,
        owner: str | None = None,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.owner = owner or default_owner()
        self.settings = settings
        self.stats = DeliveryStats()
        self.breaker = Breaker(
            threshold=settings.breaker_threshold,
            pause_s=settings.breaker_pause_s,
            max_pause_s=settings.breaker_max_pause_s,
            clock=monotonic,
        )
        self._sessions = sessions
        self._client = client
        self._crypto = crypto
        self._code_financeur = code_financeur
        self._clock = clock
        self._claimed: deque[Claim] = deque()
        self._claim_lock = asyncio.Lock()
        # SQLite has one writer at a time and makes waiters sleep (busy_timeout's backoff):
        # the engine's own writers (claims, the recorder) take turns in process instead.
        self._write_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._busy = 0  # passes in progress
        self._live = 0  # workers of the run in progress
        # The last claim found nothing, and no wake nor pass has ended since: another claim
        # would find nothing either (workers started by a wake would each ask in turn).
        self._drained = False
        # Counts what may have left work due (a wake, a poll, a pass's end): a claim that
        # found nothing marks the engine drained only if none came while it ran, else the
        # work stored meanwhile would wait for the next interval (an hour under `serve`).
        self._undrained = 0
        # Set when the process is asked to stop: passes in flight finish, no new claim.
        self._stop: asyncio.Event | None = None

    def stop(self) -> None:
        """No new claim from now on; the passes in flight finish, then a run returns."""
        if self._stop is None:
            self._stop = asyncio.Event()
        self._stop.set()

    def wake(self) -> None:
        """Work was stored (an ingest): run now rather than at the next tick."""
        self._undrain()
        self._wake.set()

    def _undrain(self) -> None:
        self._drained = False
        self._undrained += 1

    @property
    def woken(self) -> bool:
        """A wake no run has acted on yet (it came between runs, or as one ended)."""
        return self._wake.is_set()

    @property
    def stopping(self) -> bool:
        return self._stopping()

    async def run_once(self) -> int:
        """Work on every dossier due now, until none is left; the number of passes."""
        return await self._run(self._next_claim)

    async def work_on(self, claims: list[Claim]) -> int:
        """Run passes over claims taken elsewhere (a worker that stalled, in tests)."""
        given = deque(claims)

        async def next_given() -> Claim | None:
            return given.popleft() if given else None

        return await self._run(next_given)

    async def _run(self, next_claim: Callable[[], Awaitable[Claim | None]]) -> int:
        lock = self._write_lock if _is_sqlite(self._sessions) else None
        async with Recorder(self._sessions, self._crypto, self._clock, write_lock=lock) as recorder:
            parts = Parts(
                sessions=self._sessions,
                client=self._client,
                crypto=self._crypto,
                recorder=recorder,
                breaker=self.breaker,
                stats=self.stats,
                settings=self.settings,
                code_financeur=self._code_financeur,
                clock=self._clock,
            )
            # Every worker ends before the recorder does: a worker whose claim failed must
            # not take the recorder away from passes still in flight (they would wait on
            # their next record for ever). The run then fails with the first error.
            ended = await self._workers(lambda: self._worker(parts, next_claim))
        if ended.failure is not None:
            raise ended.failure
        await self._release_unstarted()
        return ended.passes

    async def _workers(self, worker: Callable[[], Awaitable[int]]) -> Ended:
        """`concurrency` workers until every one has found nothing to claim. A worker that
        finds nothing ends; while others still run, a wake (new work stored) or, failing
        one, each `interval_s` starts new ones up to `concurrency`: under a steady trickle
        of work the run would otherwise shrink to one worker, and every new item would
        queue behind it."""
        loop = asyncio.get_running_loop()
        self._undrain()
        live = {asyncio.ensure_future(worker()) for _ in range(self.settings.concurrency)}
        self._live = len(live)
        ended = Ended()
        poll_at = loop.time() + self.settings.interval_s
        try:
            while live:
                # No wake while stopping: a wake left set would make this loop spin.
                woken = None if self._stopping() else asyncio.ensure_future(self._wake.wait())
                done, live = await asyncio.wait(
                    live | ({woken} if woken else set()),
                    timeout=max(0.0, poll_at - loop.time()),
                    return_when=FIRST_COMPLETED,
                )
                was_woken = woken is not None and woken in done
                if woken is not None:
                    woken.cancel()
                    done.discard(woken)
                    live.discard(woken)
                for task in done:
                    ended.add(task)
                polled = loop.time() >= poll_at
                if polled:
                    poll_at = loop.time() + self.settings.interval_s
                if live and (was_woken or polled) and not self._stopping():
                    # Cleared before the new claims, so that a later wake is not lost; with
                    # no worker left, a wake stays set for `run_forever` to run again.
                    self._wake.clear()
                    self._undrain()
                    missing = self.settings.concurrency - len(live)
                    live |= {asyncio.ensure_future(worker()) for _ in range(missing)}
                self._live = len(live)
        except BaseException:
            # Cancelled (a scheduler shutting down): the workers go too, as under `gather`.
            for task in live:
                task.cancel()
            await asyncio.gather(*live, return_exceptions=True)
            raise
        return ended

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    async def _release_unstarted(self) -> None:
        """Claims taken but not started when asked to stop: free at once, not at the end of
        their lease (no read-back needed either: nothing was sent for them)."""
        unstarted, self._claimed = list(self._claimed), deque()
        if not unstarted:
            return
        async with self._sessions() as session, session.begin():
            for claim in unstarted:
                await session.execute(
                    update(Livraison)
                    .where(
                        Livraison.id_dossier == claim.id_dossier,
                        Livraison.lease_owner == claim.token,
                    )
                    .values(lease_owner=None, lease_until=None)
                )

    async def run_forever(self, stop: asyncio.Event) -> None:
        """`sync` without `--once`: a run every `interval_s`, sooner when a retry falls due
        before that, at once when woken (in process, or on PostgreSQL by an ingest's
        notification: `wakeup.py`). `stop` (SIGTERM) lets the passes in flight finish and
        starts no other."""
        self._stop = stop
        retry_s = min(self.settings.interval_s, wakeup.RETRY_S)
        async with wakeup.listening(self._sessions, self.wake, retry_s=retry_s):
            while not stop.is_set():
                pause = self.settings.interval_s
                # Cleared before looking for work: a wake during the run runs it again.
                self._wake.clear()
                try:
                    await self.run_once()
                    pause = await self._until_next_due(pause)
                except Exception:
                    # The database or AGORA's token failed for the whole run: try again later.
                    log.exception("delivery.tick.failed")
                waiting = asyncio.create_task(self._wake.wait())
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({waiting, stopping}, timeout=pause, return_when=FIRST_COMPLETED)
                waiting.cancel()
                stopping.cancel()

    async def _until_next_due(self, longest: float) -> float:
        async with self._sessions() as session:
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            # When the next item becomes claimable: due, and its lease (if any) lapsed.
            claimable = case(
                (Livraison.lease_until > Livraison.due_at, Livraison.lease_until),
                else_=Livraison.due_at,
            )
            due: datetime | None = await session.scalar(
                select(func.min(claimable)).where(
                    Livraison.etat == A_FAIRE, Livraison.lot_id.is_(None)
                )
            )
        if due is None:
            return longest
        return min(longest, max(_SHORTEST_PAUSE_S, (due - self._clock()).total_seconds()))

    async def _worker(self, parts: Parts, next_claim: Callable[[], Awaitable[Claim | None]]) -> int:
        passes = 0
        while (claim := await next_claim()) is not None:
            self._busy += 1
            try:
                await DossierPass(parts, claim).run()
            except Exception:
                # The claim lapses and the dossier comes back, read back first.
                log.exception("delivery.pass.failed", id_dossier=claim.id_dossier)
            finally:
                self._busy -= 1
                # Its end may have left work due (a newer snapshot came during the pass).
                self._undrain()
            passes += 1
        return passes

    async def _next_claim(self) -> Claim | None:
        if self._stopping():
            return None  # what is claimed but not started comes back when its lease lapses
        async with self._claim_lock:
            if not self._claimed:
                if self._drained:
                    return None
                before = self._undrained
                self._claimed.extend(await self._claim())
                self._drained = not self._claimed and self._undrained == before
            if self._stopping():
                # Asked to stop while this worker waited for the lock or claimed: no pass
                # starts; `_release_unstarted` frees what the claim took.
                return None
            return self._claimed.popleft() if self._claimed else None

    def _idle(self) -> int:
        """Workers without a pass, this one included: a claim takes no more than they can
        start now (an item claimed for a busy engine would wait, leased, in its queue, where
        another process could not take it)."""
        return max(1, self._live - self._busy)

    async def _claim(self) -> list[Claim]:
        if _is_sqlite(self._sessions):
            async with self._write_lock, executor.begin(self._sessions) as transaction:
                claims = await self._claim_in(transaction)
                await transaction.commit()
                return claims
        # One statement, atomic by itself: no BEGIN and COMMIT round trips around it.
        async with executor.autocommit(self._sessions) as statements:
            return await self._claim_in(statements)

    async def _claim_in(self, statements: executor.Executor) -> list[Claim]:
        return await claim_due(
            statements,
            owner=self.owner,
            now=self._clock(),
            lease=timedelta(seconds=self.settings.lease_s),
            limit=self._idle(),
        )


@dataclass(slots=True)
class Ended:
    """What a run's ended workers did: their passes and the first error, not a list of
    them all (a run under a steady feed starts workers at each wake, for hours)."""

    passes: int = 0
    failure: BaseException | None = None

    def add(self, task: asyncio.Future[int]) -> None:
        error = asyncio.CancelledError() if task.cancelled() else task.exception()
        if error is None:
            self.passes += task.result()
        elif self.failure is None:
            self.failure = error


def _is_sqlite(sessions: async_sessionmaker[AsyncSession]) -> bool:
    bind = sessions.kw.get("bind")
    return bind is not None and bind.dialect.name == "sqlite"
