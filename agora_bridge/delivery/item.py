"""What a pass records about its claimed work item, always through the recorder, fenced on the
claim: the attempt before a call, AGORA's acknowledged state after it, and the way the claim
ends (closed, parked, held, or released until a retry).

A call's success is staged rather than committed at once: it goes with the pass's next record,
which is the next call's attempt or the end of the claim, so that a call costs one commit,
not two. Nothing is sent before it is durable (the next attempt carries it); a crash in
between loses only what AGORA holds anyway, and the lapsed claim is read back.

Terminal states are conditional on the generation the pass planned from: a snapshot stored
meanwhile leaves the item due again (`docs/DELIVERY.md`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn

from agora_bridge.agora.errors import AgoraError, AgoraPermanentError, retry_delay
from agora_bridge.delivery import reported
from agora_bridge.delivery.acknowledged import Acquittement, Context, personal_values
from agora_bridge.delivery.claims import Claim
from agora_bridge.delivery.outcomes import Issue, issue_of, parked_message
from agora_bridge.delivery.recorder import Attempt, IfCurrent, Record, Recorder, Written
from agora_bridge.delivery.stats import DeliveryStats
from agora_bridge.ledger.chain import Entry, Kind
from agora_bridge.logs import get_logger
from agora_bridge.settings import SyncSettings
from agora_bridge.storage.livraisons import A_FAIRE, A_JOUR, PARQUE, RETENU
from agora_bridge.storage.models import Livraison
from agora_bridge.storage.retours import Event

log = get_logger(__name__)


class Stop(Exception):
    """The pass ends: its item was released, or its claim is no longer its own."""


class ClaimedItem:
    def __init__(
        self,
        claim: Claim,
        context: Context,
        *,
        recorder: Recorder,
        settings: SyncSettings,
        stats: DeliveryStats,
        clock: Callable[[], datetime],
    ) -> None:
        self._claim = claim
        self._ctx = context
        self._recorder = recorder
        self._settings = settings
        self._stats = stats
        self._clock = clock
        # Facts of a call whose consequence is not recorded yet (a 409 whose dossier must be
        # read first): they go with the next record, whatever it is.
        self._unrecorded: list[Entry] = []
        # A success not committed yet (see the module's docstring): the columns it sets and
        # AGORA's state after it.
        self._staged: dict[str, Any] = {}
        self._staged_state: Acquittement | None = None
        self._staged_events: list[Event] = []
        # AGORA answered but its state could not be read: the next pass must read it.
        self.must_verify = False

    def entry(
        self,
        kind: Kind,
        operation: str | None,
        *,
        request_id: str | None = None,
        http_status: int | None = None,
        code: str | None = None,
        body_digest: str | None = None,
    ) -> Entry:
        """A ledger entry about this dossier: codes, ids and digests only."""
        return Entry(
            recorded_at=self._clock(),
            kind=kind,
            id_dossier=self._ctx.id_dossier,
            version=self._ctx.version,
            operation=operation,
            request_id=request_id,
            http_status=http_status,
            code=code,
            body_digest=body_digest,
        )

    def outcome(self, name: str, error: AgoraError, request_id: str) -> Entry:
        code = error.code or issue_of(error).value
        return self.entry(
            "agora.outcome", name, request_id=request_id, http_status=error.status, code=code
        )

    def defer(self, entry: Entry) -> None:
        self._unrecorded.append(entry)

    async def attempt(self, values: dict[str, Any], entry: Entry) -> bool:
        """Durable before the call leaves, only while the lease still runs; renews it.
        False when a staged success went with it but a newer snapshot arrived meanwhile: the
        attempt was not recorded, the pass must reload and plan again."""
        now = self._clock()
        values = values | {
            "last_attempt_at": now,
            "lease_until": now + timedelta(seconds=self._settings.lease_s),
        }
        if self._staged_state is None:
            await self.record(values, [entry], lease_valid_at=now)
            return True
        attempt = Attempt(values, entry, self._ctx.generation, now)
        written = await self._write({}, [], attempt=attempt)
        if written.attempted:
            return True
        if written.generation == self._ctx.generation:
            self._lost()  # the lease lapsed before the call could leave
        return False

    @property
    def staged(self) -> bool:
        return self._staged_state is not None

    def stage(self, state: Acquittement, outcome: str, events: list[Event]) -> None:
        """AGORA's state after a success, and what the return flow reports of it, committed
        with the pass's next record."""
        self._staged |= self._acknowledged_values(outcome)
        self._staged_state = state
        self._staged_events = events
        self._ctx.id_agora, self._ctx.acknowledged = state.id_agora, state.dossier
        self._ctx.stored = None

    async def acknowledged(
        self, state: Acquittement, entry: Entry | None, outcome: str, events: list[Event]
    ) -> int:
        """AGORA's state after an answer, and what the return flow reports of it; the item's
        generation (a newer one: reload)."""
        values = self._acknowledged_values(outcome)
        entries = [entry] if entry else []
        generation = await self.record(values, entries, acquittement=state, retours=events)
        self._ctx.id_agora, self._ctx.acknowledged = state.id_agora, state.dossier
        self._ctx.stored = None
        return generation

    def _acknowledged_values(self, outcome: str) -> dict[str, Any]:
        values: dict[str, Any] = {"verifier": False, "attempts": 0, "last_outcome": outcome}
        if self._ctx.id_agora is None:  # linked or created: the creation's key is spent
            values |= {"idempotency_key": None, "body_digest": None}
        return values

    async def retry_later(self, error: AgoraError, *, name: str, entry: Entry | None) -> None:
        """Ambiguous or transient: due again after a backoff, AGORA's Retry-After honoured
        (interleaving 12: a long one becomes `due_at`, the claim is released)."""
        issue = issue_of(error)
        values: dict[str, Any] = {"attempts": Livraison.attempts + 1}
        if self.must_verify or (issue is Issue.AMBIGU and entry is not None):
            values["verifier"] = True
        await self.release(
            timedelta(seconds=self._backoff(error)),
            outcome=f"{name}:{issue.value}",
            extra=values,
            entries=[entry] if entry else [],
        )

    def _backoff(self, error: AgoraError) -> float:
        settings = self._settings
        delay = retry_delay(
            None,
            self._ctx.attempts + 1,
            base=settings.retry_base_s,
            cap=settings.retry_cap_s,
            minimum=min(settings.retry_base_s, settings.retry_cap_s),
        )
        retry_after = getattr(error, "retry_after_s", None)
        if retry_after is not None:
            delay = max(delay, min(retry_after, settings.retry_after_max_s))
        return delay

    async def park(self, error: AgoraPermanentError, *, name: str, entry: Entry) -> None:
        """A business rejection: AGORA's code and message, visible until a newer snapshot or
        `replay` reopens the item."""
        planned = self._ctx.generation
        await self.finish(
            PARQUE,
            code=IfCurrent(error.code or str(error.status), planned),
            message=IfCurrent(parked_message(error, personal_values(self._ctx)), planned),
            parked_at=IfCurrent(self._clock(), planned),
            last_outcome=f"{name}:{Issue.PARQUE.value}",
            entries=[entry],
            # AGORA refused, whatever snapshot came meanwhile: the return flow says so.
            retours=[reported.rejected(self._ctx, error, now=self._clock())],
        )

    async def hold(self, reason: str, *, report: bool = True) -> None:
        """`report`: False for a hold the return flow reported already (ingest reports a
        snapshot held at classification)."""
        events = [reported.held(self._ctx, reason, now=self._clock())] if report else []
        await self.finish(
            RETENU,
            motif_retenue=IfCurrent(reason, self._ctx.generation),
            entries=[self.entry("dossier.hold", None, code=reason)],
            retours=events,
        )

    async def finish(
        self,
        etat: str,
        *,
        entries: list[Entry] | None = None,
        retours: list[Event] | None = None,
        **values: Any,
    ) -> None:
        """A terminal state, only if no newer snapshot arrived meanwhile (else due again)."""
        if etat == A_JOUR:
            values |= {"attempts": 0, "verifier": False}
        values |= {"etat": IfCurrent(etat, self._ctx.generation, A_FAIRE)}
        await self.release(timedelta(), extra=values, entries=entries or [], retours=retours)

    async def release(
        self,
        delay: timedelta,
        *,
        outcome: str | None = None,
        verifier: bool | None = None,
        extra: dict[str, Any] | None = None,
        entries: list[Entry] | None = None,
        retours: list[Event] | None = None,
    ) -> None:
        """The claim ends: the item is due again after `delay` (for whoever claims it)."""
        values: dict[str, Any] = {
            "due_at": self._clock() + delay,
            "lease_owner": None,
            "lease_until": None,
            **(extra or {}),
        }
        if outcome is not None:
            values["last_outcome"] = outcome
        if verifier is not None:
            values["verifier"] = verifier
        await self.record(values, entries or [], retours=retours or [])
        raise Stop

    async def record(
        self,
        values: dict[str, Any],
        entries: list[Entry] | None = None,
        *,
        acquittement: Acquittement | None = None,
        lease_valid_at: datetime | None = None,
        retours: list[Event] | None = None,
    ) -> int:
        """Commit through the recorder; `Stop` when the claim is no longer this pass's."""
        written = await self._write(
            values,
            entries or [],
            acquittement=acquittement,
            lease_valid_at=lease_valid_at,
            retours=retours or [],
        )
        return written.generation

    async def _write(
        self,
        values: dict[str, Any],
        entries: list[Entry],
        *,
        acquittement: Acquittement | None = None,
        lease_valid_at: datetime | None = None,
        attempt: Attempt | None = None,
        retours: list[Event] | None = None,
    ) -> Written:
        """What is staged goes too (the later values win: they are the newer facts; the
        staged success's events come before this record's)."""
        record = Record(
            self._ctx.id_dossier,
            self._claim.token,
            self._staged | values,
            [*self._unrecorded, *entries],
            acquittement or self._staged_state,
            lease_valid_at,
            [*self._staged_events, *(retours or [])],
            attempt,
        )
        written = await self._recorder.write(record)
        if written is None:
            self._lost()
        self._unrecorded, self._staged, self._staged_state = [], {}, None
        self._staged_events = []
        return written

    def _lost(self) -> NoReturn:
        # Fenced: another worker holds the dossier now (or may: the lease lapsed); it reads
        # AGORA back first.
        self._stats.fenced += 1
        log.info("delivery.claim.lost", id_dossier=self._ctx.id_dossier)
        raise Stop
