"""What a pass reports to the return flow (`storage/retours.py`, `docs/RETOURS.md`).

Pure but for the digest's key: the events an acknowledgment, a rejection or a hold gives,
built from the pass's context. One event per change of what AGORA holds: a write AGORA
accepted always reports; a read-back or a 409 reports only when AGORA's dossier differs from
the one acknowledged before (an ambiguous call that was not applied leaves nothing to say).
"""

from __future__ import annotations

from datetime import datetime

from agora_bridge.agora.errors import AgoraPermanentError
from agora_bridge.delivery.acknowledged import (
    Acquittement,
    Context,
    digest,
    encode,
    personal_values,
)
from agora_bridge.delivery.outcomes import parked_message
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.retours import Evenement, Event


def acknowledged(
    ctx: Context,
    state: Acquittement,
    *,
    code: str,
    write: bool,
    crypto: NirCrypto,
    now: datetime,
) -> list[Event]:
    """`code`: the operation AGORA accepted (a write), or how we learnt the state (`LU`,
    `LIE`, `EXISTANT`, `DEJA_APPLIQUEE`)."""
    if ctx.id_agora is None or ctx.id_agora != state.id_agora:
        evenement = Evenement.ID_AGORA_ATTRIBUE
    elif write or _changed(ctx, state, crypto):
        evenement = Evenement.ETAT_ACQUITTE
    else:
        return []
    statut = state.dossier.statut.value
    return [Event(evenement, ctx.id_dossier, ctx.version, now, state.id_agora, statut, code)]


def _changed(ctx: Context, state: Acquittement, crypto: NirCrypto) -> bool:
    if ctx.acknowledged is None:
        return True
    before = ctx.stored or (encode(ctx.acknowledged), digest(ctx.acknowledged.titulaire, crypto))
    return before != (encode(state.dossier), digest(state.dossier.titulaire, crypto))


def rejected(ctx: Context, error: AgoraPermanentError, *, now: datetime) -> Event:
    return Event(
        Evenement.REJETE,
        ctx.id_dossier,
        ctx.version,
        now,
        ctx.id_agora,
        _statut(ctx),
        error.code or str(error.status),
        parked_message(error, personal_values(ctx)),
    )


def held(ctx: Context, reason: str, *, now: datetime) -> Event:
    return Event(
        Evenement.RETENU, ctx.id_dossier, ctx.version, now, ctx.id_agora, _statut(ctx), reason
    )


def _statut(ctx: Context) -> str | None:
    return ctx.acknowledged.statut.value if ctx.acknowledged is not None else None
