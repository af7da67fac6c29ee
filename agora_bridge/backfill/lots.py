"""A lot's journey on AGORA: deposit (its key and body, as recorded), polling with backoff
until it is processed, then its compte-rendu.

A deposit that fails in transit is sent again with the same key and body: AGORA answers with
the lot it already has (`agora-v2.md`: the same key returns the same lot), so a lot is never
processed twice. AGORA's own failures (5xx, 429, no answer) are waited out, with backoff;
what the client gave up on is tried again here, until the operator stops the command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from agora_bridge.agora.client import AgoraClient
from agora_bridge.agora.errors import AgoraPermanentError, AgoraTransientError, retry_delay
from agora_bridge.agora.schemas import LigneCompteRendu
from agora_bridge.backfill.packing import Lot
from agora_bridge.logs import get_logger

log = get_logger(__name__)
T = TypeVar("T")
_NOT_PROCESSED = "LOT_NON_TRAITE"


@dataclass(frozen=True)
class Pacing:
    """Polling starts at `poll_s` and grows by half up to `poll_max_s`; failures back off
    from `retry_base_s` to `retry_cap_s` (with jitter), AGORA's Retry-After honoured."""

    poll_s: float = 0.2
    poll_max_s: float = 5.0
    retry_base_s: float = 1.0
    retry_cap_s: float = 60.0


async def deposit(client: AgoraClient, lot: Lot, pacing: Pacing) -> str:
    """AGORA's id of the lot; raises `AgoraPermanentError` when AGORA refuses it."""
    answer = await _patiently(
        pacing,
        "lot.deposit",
        lambda: client.deposer_lot(
            lignes=lot.body, idempotency_key=lot.cle, request_id=lot.request_id
        ),
    )
    return answer.id_lot


async def compte_rendu(client: AgoraClient, id_lot: str, pacing: Pacing) -> list[LigneCompteRendu]:
    """Waits until the lot is processed; raises `AgoraPermanentError` (an unknown lot)."""
    pause = pacing.poll_s
    while True:
        lot = await _patiently(pacing, "lot.poll", lambda: client.lire_lot(id_lot=id_lot))
        if lot.statut == "TRAITE":
            try:
                return await _patiently(
                    pacing, "lot.compte_rendu", lambda: client.compte_rendu(id_lot=id_lot)
                )
            except AgoraPermanentError as error:
                if error.code != _NOT_PROCESSED:
                    raise
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, pacing.poll_max_s)


async def _patiently(pacing: Pacing, what: str, call: Callable[[], Awaitable[T]]) -> T:
    attempt = 0
    while True:
        try:
            return await call()
        except AgoraTransientError as error:
            attempt += 1
            delay = retry_delay(
                error.retry_after_s,
                attempt,
                base=pacing.retry_base_s,
                cap=pacing.retry_cap_s,
                minimum=min(pacing.retry_base_s, pacing.retry_cap_s),
            )
            log.warning(f"backfill.{what}.retried", attempt=attempt, delay_s=round(delay, 2))
            await asyncio.sleep(delay)
