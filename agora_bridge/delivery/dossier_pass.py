"""One reconcile pass over one claimed dossier (`docs/DELIVERY.md`, "One pass over a dossier").

Read back when asked → plan from (acknowledged, newest snapshot) → hold, close, or send the
first operation → record the outcome → plan again. Every fact goes through the recorder,
fenced on the claim: once a record comes back fenced, the pass stops without sending.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import case
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.agora.client import AgoraClient
from agora_bridge.agora.errors import (
    AgoraError,
    AgoraPermanentError,
    AgoraTransientError,
    retry_delay,
)
from agora_bridge.agora.mapping import from_wire
from agora_bridge.agora.schemas import CreationAcceptee, Dossier
from agora_bridge.decision.dossier import Creer, Refus
from agora_bridge.delivery import acknowledged, calls
from agora_bridge.delivery.acknowledged import Acquittement, Context
from agora_bridge.delivery.breaker import Breaker
from agora_bridge.delivery.claims import Claim
from agora_bridge.delivery.decisions import acknowledge, next_plan
from agora_bridge.delivery.outcomes import Issue, is_failure, issue_of, parked_message
from agora_bridge.delivery.recorder import Record, Recorder
from agora_bridge.delivery.stats import DeliveryStats
from agora_bridge.ledger.chain import Entry, Kind
from agora_bridge.logs import get_logger
from agora_bridge.settings import SyncSettings
from agora_bridge.snapshots.perimeter import Classement
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.livraisons import A_FAIRE, A_JOUR, PARQUE, RETENU
from agora_bridge.storage.models import Livraison

log = get_logger(__name__)
T = TypeVar("T")
# A pass that keeps sending is planning in circles (our model and AGORA disagree): it stops,
# and the item comes back later after a read-back.
MAX_SENDS_PER_PASS = 12


@dataclass(frozen=True)
class Parts:
    """What every pass of one engine shares."""

    sessions: async_sessionmaker[AsyncSession]
    client: AgoraClient
    crypto: NirCrypto
    recorder: Recorder
    breaker: Breaker
    stats: DeliveryStats
    settings: SyncSettings
    code_financeur: str
    clock: Callable[[], datetime]


class Stop(Exception):
    """The pass ends: its item was released, or its claim is no longer its own."""


class DossierPass:
    def __init__(self, parts: Parts, claim: Claim) -> None:
        self._p = parts
        self._claim = claim
        self._ctx: Context

    async def run(self) -> None:
        async with self._p.sessions() as session:
            context = await acknowledged.load(session, self._claim.id_dossier, self._p.crypto)
        if context is None:
            return  # the lease lapses; nothing to deliver
        self._ctx = context
        try:
            if self._claim.verifier:
                await self._read_back()
            for _ in range(MAX_SENDS_PER_PASS):
                if await self._step():
                    return
            await self._release(timedelta(), outcome="REPLANIFIE", verifier=True)
        except Stop:
            return

    # ---- Deciding ------------------------------------------------------------------------

    async def _step(self) -> bool:
        """One decision and its consequence; True when the pass is over."""
        ctx = self._ctx
        if ctx.snapshot is None:
            return await self._not_sendable()
        plan = next_plan(ctx.acknowledged, ctx.snapshot)
        if plan.retenue is not None:
            await self._finish(RETENU, motif_retenue=plan.retenue)
            return True
        if not plan.operations:
            await self._finish(A_JOUR)
            return True
        op = plan.operations[0]
        if isinstance(op, Creer) and not ctx.searched:
            await self._search()
        else:
            await self._send(calls.outgoing(op, code_financeur=self._p.code_financeur))
        return False

    async def _not_sendable(self) -> bool:
        """Excluded or held now: nothing goes; a dossier AGORA knows, or one held for its
        NIR, is held visibly with the classification's reason."""
        ctx = self._ctx
        if ctx.classement == Classement.EXCLU and ctx.id_agora is None:
            await self._finish(A_JOUR)
        else:
            await self._finish(RETENU, motif_retenue=ctx.motif or ctx.classement)
        return True

    # ---- Reading AGORA -------------------------------------------------------------------

    async def _read_back(self) -> None:
        """After an ambiguous failure or a lapsed claim: AGORA's dossier is the truth."""
        ctx = self._ctx
        if ctx.id_agora is None:
            await self._search()
            return
        dossier = await self._guarded(
            "Lire", lambda rid: calls.read(self._p.client, ctx.id_agora or "", request_id=rid)
        )
        await self._acknowledged(Acquittement(ctx.id_agora, dossier), "Lire", outcome="LU")

    async def _search(self) -> None:
        """Before any creation: a dossier AGORA already has is linked, read, re-planned."""
        ctx = self._ctx
        found = await self._guarded(
            "Rechercher",
            lambda rid: calls.search(
                self._p.client,
                ctx.id_dossier,
                code_financeur=self._p.code_financeur,
                request_id=rid,
            ),
        )
        ctx.searched = True
        if found is None:
            await self._record({"verifier": False})
            return
        dossier = await self._guarded(
            "Lire", lambda rid: calls.read(self._p.client, found, request_id=rid)
        )
        await self._acknowledged(Acquittement(found, dossier), "Lire", outcome="LIE")

    async def _guarded(self, name: str, call: Callable[[str], Awaitable[T]]) -> T:
        """A read: the breaker, the stats; a failure releases the item (verifier kept)."""
        request_id = str(uuid.uuid4())
        try:
            return await self._timed(name, lambda: call(request_id))
        except AgoraTransientError as error:
            await self._retry_later(error, name=name, request_id=request_id, attempted=False)
        except AgoraPermanentError as error:
            issue = issue_of(error)
            if is_failure(issue):
                await self._retry_later(error, name=name, request_id=request_id, attempted=False)
            await self._park(error, name=name, request_id=request_id)
        raise Stop

    async def _timed(self, name: str, call: Callable[[], Awaitable[T]]) -> T:
        wait = self._p.breaker.wait_s()
        if wait is not None:
            await self._release(timedelta(seconds=wait), outcome="CIRCUIT_OUVERT")
        started = time.monotonic()
        try:
            result = await call()
        except AgoraError as error:
            issue = issue_of(error)
            self._breaker(failed=is_failure(issue))
            self._p.stats.observe(name, error.code or issue.value, time.monotonic() - started)
            raise
        except BaseException:
            self._breaker(failed=True)
            raise
        self._breaker(failed=False)
        self._p.stats.observe(name, Issue.SUCCES, time.monotonic() - started)
        self._p.stats.last_success_at = self._p.clock()
        return result

    def _breaker(self, *, failed: bool) -> None:
        if failed:
            self._p.breaker.failure()
        else:
            self._p.breaker.success()

    # ---- Sending -------------------------------------------------------------------------

    async def _send(self, out: calls.Outgoing) -> None:
        ctx = self._ctx
        request_id = str(uuid.uuid4())
        key = await self._attempt(out, request_id)
        try:
            answer = await self._timed(
                out.name,
                lambda: calls.send(
                    self._p.client,
                    out,
                    id_agora=ctx.id_agora,
                    idempotency_key=key,
                    request_id=request_id,
                ),
            )
        except AgoraError as error:
            await self._failed(out, error, request_id)
            return
        state = await self._after(out, answer, request_id)
        status = 201 if isinstance(answer, CreationAcceptee) else 200
        await self._acknowledged(
            state, out.name, outcome=Issue.SUCCES, request_id=request_id, status=status
        )

    async def _attempt(self, out: calls.Outgoing, request_id: str) -> str | None:
        """The attempt is durable, with the creation's key tied to its body, before it leaves;
        and only while the claim's lease still runs (renewed for the call)."""
        ctx, now = self._ctx, self._p.clock()
        values: dict[str, Any] = {
            "last_attempt_at": now,
            "lease_until": now + timedelta(seconds=self._p.settings.lease_s),
        }
        key = None
        if isinstance(out.operation, Creer):
            same_body = ctx.body_digest == out.digest and ctx.idempotency_key is not None
            key = ctx.idempotency_key if same_body else str(uuid.uuid4())
            values |= {"idempotency_key": key, "body_digest": out.digest}
            ctx.idempotency_key, ctx.body_digest = key, out.digest
        entry = self._entry(
            "agora.attempt", out.name, request_id=request_id, body_digest=out.digest
        )
        await self._record(values, [entry], lease_valid_at=now)
        return key

    async def _after(
        self, out: calls.Outgoing, answer: calls.Answer, request_id: str
    ) -> Acquittement:
        """What AGORA holds after accepting `out`."""
        ctx = self._ctx
        if isinstance(answer, CreationAcceptee):
            return Acquittement(answer.id_agora, acknowledge(None, out.operation))
        assert ctx.id_agora is not None
        if isinstance(answer, Dossier):  # a rectification answers the whole dossier
            return Acquittement(ctx.id_agora, from_wire(answer))
        try:
            return Acquittement(ctx.id_agora, acknowledge(ctx.acknowledged, out.operation))
        except Refus:
            # AGORA accepted what our model says it would refuse: believe AGORA, read it.
            dossier = await self._guarded(
                "Lire", lambda rid: calls.read(self._p.client, ctx.id_agora or "", request_id=rid)
            )
            return Acquittement(ctx.id_agora, dossier)

    async def _failed(self, out: calls.Outgoing, error: AgoraError, request_id: str) -> None:
        issue = issue_of(error)
        if issue is Issue.DEJA_APPLIQUEE:
            await self._already_applied(out, error, request_id)
        elif issue is Issue.EXISTANT:
            found = getattr(error, "id_agora", None) or ""
            dossier = await self._guarded(
                "Lire", lambda rid: calls.read(self._p.client, found, request_id=rid)
            )
            await self._acknowledged(
                Acquittement(found, dossier),
                out.name,
                outcome=issue,
                request_id=request_id,
                status=error.status,
                code=error.code,
            )
        elif is_failure(issue):
            await self._retry_later(error, name=out.name, request_id=request_id, attempted=True)
        else:
            assert isinstance(error, AgoraPermanentError)
            await self._park(error, name=out.name, request_id=request_id)

    async def _already_applied(
        self, out: calls.Outgoing, error: AgoraError, request_id: str
    ) -> None:
        """AGORA is already in the target state: its dossier becomes the acknowledged state;
        the re-plan then sends nothing (same values) or a rectification (others)."""
        ctx = self._ctx
        assert ctx.id_agora is not None
        wire_dossier = error.dossier if isinstance(error, AgoraPermanentError) else None
        dossier = (
            from_wire(wire_dossier)
            if wire_dossier is not None
            else await self._guarded(
                "Lire", lambda rid: calls.read(self._p.client, ctx.id_agora or "", request_id=rid)
            )
        )
        await self._acknowledged(
            Acquittement(ctx.id_agora, dossier),
            out.name,
            outcome=Issue.DEJA_APPLIQUEE,
            request_id=request_id,
            status=error.status,
            code=error.code,
        )

    # ---- Recording -----------------------------------------------------------------------

    async def _acknowledged(
        self,
        state: Acquittement,
        name: str,
        *,
        outcome: str,
        request_id: str | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        ctx = self._ctx
        values: dict[str, Any] = {"verifier": False, "attempts": 0, "last_outcome": outcome}
        if ctx.id_agora is None:
            values |= {"idempotency_key": None, "body_digest": None}
        entry = self._entry(
            "agora.outcome", name, request_id=request_id, http_status=status, code=code or outcome
        )
        generation = await self._record(values, [entry], acquittement=state)
        ctx.id_agora, ctx.acknowledged = state.id_agora, state.dossier
        if generation != ctx.generation:
            async with self._p.sessions() as session:
                await acknowledged.reload_snapshot(session, ctx, self._p.crypto)

    async def _retry_later(
        self, error: AgoraError, *, name: str, request_id: str, attempted: bool
    ) -> None:
        """Ambiguous or transient: due again after a backoff, AGORA's Retry-After honoured
        (interleaving 12: a long one becomes `due_at`, the claim is released)."""
        settings = self._p.settings
        attempts = self._ctx.attempts + 1
        delay = retry_delay(
            None,
            attempts,
            base=settings.retry_base_s,
            cap=settings.retry_cap_s,
            minimum=min(settings.retry_base_s, settings.retry_cap_s),
        )
        retry_after = getattr(error, "retry_after_s", None)
        if retry_after is not None:
            delay = max(delay, min(retry_after, settings.retry_after_max_s))
        issue = issue_of(error)
        entries = []
        if attempted:
            entries.append(
                self._entry(
                    "agora.outcome",
                    name,
                    request_id=request_id,
                    http_status=error.status,
                    code=error.code or issue.value,
                )
            )
        values: dict[str, Any] = {"attempts": Livraison.attempts + 1}
        if issue is Issue.AMBIGU and attempted:
            values["verifier"] = True
        await self._release(
            timedelta(seconds=delay), outcome=f"{name}:{issue.value}", extra=values, entries=entries
        )

    async def _park(self, error: AgoraPermanentError, *, name: str, request_id: str) -> None:
        same = Livraison.generation == self._ctx.generation
        entry = self._entry(
            "agora.outcome", name, request_id=request_id, http_status=error.status, code=error.code
        )
        await self._finish(
            PARQUE,
            code=case((same, error.code or str(error.status)), else_=None),
            message=case((same, parked_message(error)), else_=None),
            parked_at=case((same, self._p.clock()), else_=None),
            last_outcome=f"{name}:{Issue.PARQUE.value}",
            entries=[entry],
        )

    async def _finish(
        self, etat: str, *, entries: list[Entry] | None = None, **values: Any
    ) -> None:
        """A terminal state, only if no newer snapshot arrived meanwhile (else due again)."""
        same = Livraison.generation == self._ctx.generation
        if etat == RETENU:
            entries = [
                *(entries or []),
                self._entry("dossier.hold", None, code=values["motif_retenue"]),
            ]
            values["motif_retenue"] = case((same, values["motif_retenue"]), else_=None)
        if etat == A_JOUR:
            values |= {"attempts": 0, "verifier": False}
        values |= {"etat": case((same, etat), else_=A_FAIRE)}
        await self._release(timedelta(), extra=values, entries=entries or [])

    async def _release(
        self,
        delay: timedelta,
        *,
        outcome: str | None = None,
        verifier: bool | None = None,
        extra: dict[str, Any] | None = None,
        entries: list[Entry] | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "due_at": self._p.clock() + delay,
            "lease_owner": None,
            "lease_until": None,
            **(extra or {}),
        }
        if outcome is not None:
            values["last_outcome"] = outcome
        if verifier is not None:
            values["verifier"] = verifier
        await self._record(values, entries or [])
        raise Stop

    async def _record(
        self,
        values: dict[str, Any],
        entries: list[Entry] | None = None,
        *,
        acquittement: Acquittement | None = None,
        lease_valid_at: datetime | None = None,
    ) -> int:
        record = Record(
            self._ctx.id_dossier,
            self._claim.token,
            values,
            entries or [],
            acquittement,
            lease_valid_at,
        )
        generation = await self._p.recorder.commit(record)
        if generation is None:
            # Fenced: another worker holds the dossier now; it reads AGORA back first.
            self._p.stats.fenced += 1
            log.info("delivery.claim.lost", id_dossier=self._ctx.id_dossier)
            raise Stop
        return generation

    def _entry(
        self,
        kind: Kind,
        operation: str | None,
        *,
        request_id: str | None = None,
        http_status: int | None = None,
        code: str | None = None,
        body_digest: str | None = None,
    ) -> Entry:
        return Entry(
            recorded_at=self._p.clock(),
            kind=kind,
            id_dossier=self._ctx.id_dossier,
            version=self._ctx.version,
            operation=operation,
            request_id=request_id,
            http_status=http_status,
            code=code,
            body_digest=body_digest,
        )
