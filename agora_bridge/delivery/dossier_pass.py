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

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.agora.client import AgoraClient
from agora_bridge.agora.errors import (
    AgoraError,
    AgoraPermanentError,
)
from agora_bridge.agora.mapping import from_wire
from agora_bridge.agora.schemas import CreationAcceptee, Dossier
from agora_bridge.decision.dossier import AgoraDossier, Creer, Refus
from agora_bridge.delivery import acknowledged, calls, reported
from agora_bridge.delivery.acknowledged import Acquittement, Context
from agora_bridge.delivery.breaker import Breaker
from agora_bridge.delivery.claims import Claim
from agora_bridge.delivery.decisions import acknowledge, next_plan
from agora_bridge.delivery.item import ClaimedItem, Stop
from agora_bridge.delivery.outcomes import Issue, is_failure, issue_of
from agora_bridge.delivery.recorder import Recorder
from agora_bridge.delivery.stats import DeliveryStats
from agora_bridge.ledger.chain import Entry
from agora_bridge.logs import get_logger
from agora_bridge.settings import SyncSettings
from agora_bridge.snapshots.perimeter import Classement
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.livraisons import A_JOUR
from agora_bridge.storage.retours import Event

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


class DossierPass:
    def __init__(self, parts: Parts, claim: Claim) -> None:
        self._p = parts
        self._claim = claim
        self._ctx: Context
        self._item: ClaimedItem

    async def run(self) -> None:
        context = await acknowledged.load(self._p.sessions, self._claim.id_dossier, self._p.crypto)
        if context is None:
            return  # the lease lapses; nothing to deliver
        self._ctx = context
        p = self._p
        self._item = ClaimedItem(
            self._claim,
            context,
            recorder=p.recorder,
            settings=p.settings,
            stats=p.stats,
            clock=p.clock,
        )
        try:
            if self._claim.verifier:
                await self._read_back()
            for _ in range(MAX_SENDS_PER_PASS):
                if await self._step():
                    return
            await self._item.release(timedelta(), outcome="REPLANIFIE", verifier=True)
        except Stop:
            return

    # ---- Deciding ------------------------------------------------------------------------

    async def _step(self) -> bool:
        """One decision and its consequence; True when the pass is over."""
        ctx = self._ctx
        if ctx.target is None:
            return await self._not_sendable()
        plan = next_plan(ctx.acknowledged, ctx.target)
        if plan.retenue is not None:
            await self._item.hold(plan.retenue)
            return True
        if not plan.operations:
            await self._item.finish(A_JOUR)
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
            await self._item.finish(A_JOUR)
        else:
            # A snapshot held at classification was reported by ingest already.
            report = ctx.classement != Classement.RETENU
            await self._item.hold(ctx.motif or ctx.classement, report=report)
        return True

    # ---- Reading AGORA -------------------------------------------------------------------

    async def _read_back(self) -> None:
        """After an ambiguous failure or a lapsed claim: AGORA's dossier is the truth."""
        ctx = self._ctx
        if ctx.id_agora is None:
            await self._search()
            return
        dossier = await self._read(ctx.id_agora)
        await self._acknowledge(Acquittement(ctx.id_agora, dossier), self._read_entry(), "LU")

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
            # Only a read-back has a flag to clear; before a creation it is already clear, and
            # the creation's attempt checks the claim's fence anyway: one write a dossier less.
            if self._claim.verifier:
                await self._item.record({"verifier": False})
            return
        dossier = await self._read(found)
        await self._acknowledge(Acquittement(found, dossier), self._read_entry(), "LIE")

    async def _read(self, id_agora: str) -> AgoraDossier:
        return await self._guarded(
            "Lire", lambda rid: calls.read(self._p.client, id_agora, request_id=rid)
        )

    def _read_entry(self) -> Entry:
        return self._item.entry("agora.outcome", "Lire", http_status=200, code="LU")

    async def _acknowledge(self, state: Acquittement, entry: Entry | None, outcome: str) -> None:
        """AGORA's state as read or found (`outcome`), with what the return flow reports; a
        snapshot stored meanwhile is loaded before re-planning. (A write's success is staged.)"""
        events = self._reported(state, outcome, write=False)
        generation = await self._item.acknowledged(state, entry, outcome, events)
        if generation != self._ctx.generation:
            await self._reload()

    def _reported(self, state: Acquittement, code: str, *, write: bool) -> list[Event]:
        """What the return flow says of AGORA's state, judged before the pass adopts it."""
        p = self._p
        return reported.acknowledged(
            self._ctx, state, code=code, write=write, crypto=p.crypto, now=p.clock()
        )

    async def _reload(self) -> None:
        await acknowledged.reload_snapshot(self._p.sessions, self._ctx, self._p.crypto)

    async def _guarded(self, name: str, call: Callable[[str], Awaitable[T]]) -> T:
        """A read: the breaker, the stats; a failure releases the item (verifier kept)."""
        request_id = str(uuid.uuid4())
        # A read may take long: a success still staged is committed first.
        if self._item.staged and await self._item.record({}) != self._ctx.generation:
            await self._reload()
        await self._breaker_gate()
        try:
            return await self._timed(name, lambda: call(request_id))
        except AgoraError as error:
            if is_failure(issue_of(error)) or not isinstance(error, AgoraPermanentError):
                await self._item.retry_later(error, name=name, entry=None)
            else:
                await self._item.park(
                    error, name=name, entry=self._item.outcome(name, error, request_id)
                )
        raise Stop

    async def _breaker_gate(self) -> None:
        """Nothing leaves while the circuit is open: the item waits for the pause to end
        (before its attempt is recorded, so the ledger never shows a call not made)."""
        wait = self._p.breaker.wait_s()
        if wait is not None:
            await self._item.release(timedelta(seconds=wait), outcome="CIRCUIT_OUVERT")

    async def _timed(self, name: str, call: Callable[[], Awaitable[T]]) -> T:
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
        await self._breaker_gate()
        try:
            sending, key = await self._attempt(out, request_id)
        except BaseException:
            self._p.breaker.abandon()  # the call never left
            raise
        if not sending:  # planned from a snapshot superseded meanwhile: plan again
            self._p.breaker.abandon()
            await self._reload()
            return
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
        status = 201 if isinstance(answer, CreationAcceptee) else 200
        entry = self._item.entry(
            "agora.outcome", out.name, request_id=request_id, http_status=status, code=Issue.SUCCES
        )
        self._item.defer(entry)  # even if reading AGORA's state back fails below
        # Committed with the next record: the next call's attempt, or the claim's end.
        state = await self._after(out, answer)
        self._item.stage(state, Issue.SUCCES, self._reported(state, out.name, write=True))

    async def _attempt(self, out: calls.Outgoing, request_id: str) -> tuple[bool, str | None]:
        """The attempt is durable, with the creation's key tied to its body, before it leaves;
        and only while the claim's lease still runs (renewed for the call). (False, None)
        when a newer snapshot arrived since the plan (with a success staged before it)."""
        ctx = self._ctx
        values: dict[str, Any] = {}
        key = None
        if isinstance(out.operation, Creer):
            same_body = ctx.body_digest == out.digest and ctx.idempotency_key is not None
            key = ctx.idempotency_key if same_body else str(uuid.uuid4())
            values |= {"idempotency_key": key, "body_digest": out.digest}
        entry = self._item.entry(
            "agora.attempt", out.name, request_id=request_id, body_digest=out.digest
        )
        if not await self._item.attempt(values, entry):
            return False, None
        if key is not None:
            ctx.idempotency_key, ctx.body_digest = key, out.digest
        return True, key

    async def _after(self, out: calls.Outgoing, answer: calls.Answer) -> Acquittement:
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
            self._item.must_verify = True
            return Acquittement(ctx.id_agora, await self._read(ctx.id_agora))

    async def _failed(self, out: calls.Outgoing, error: AgoraError, request_id: str) -> None:
        issue = issue_of(error)
        entry = self._item.outcome(out.name, error, request_id)
        if issue is Issue.DEJA_APPLIQUEE:
            await self._already_applied(error, entry)
        elif issue is Issue.EXISTANT:
            # Link to it and read it: the re-plan continues from what AGORA holds.
            found = getattr(error, "id_agora", None) or ""
            self._item.defer(entry)
            self._item.must_verify = True
            await self._acknowledge(Acquittement(found, await self._read(found)), None, issue)
        elif is_failure(issue):
            await self._item.retry_later(error, name=out.name, entry=entry)
        else:
            assert isinstance(error, AgoraPermanentError)
            await self._item.park(error, name=out.name, entry=entry)

    async def _already_applied(self, error: AgoraError, entry: Entry) -> None:
        """AGORA is already in the target state: its dossier becomes the acknowledged state;
        the re-plan then sends nothing (same values) or a rectification (others)."""
        ctx = self._ctx
        assert ctx.id_agora is not None
        wire_dossier = error.dossier if isinstance(error, AgoraPermanentError) else None
        self._item.defer(entry)
        if wire_dossier is not None:
            dossier = from_wire(wire_dossier)
        else:
            self._item.must_verify = True
            dossier = await self._read(ctx.id_agora)
        await self._acknowledge(Acquittement(ctx.id_agora, dossier), None, Issue.DEJA_APPLIQUEE)
