"""One planned operation as an AGORA call, and AGORA's dossier read back into our model."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from agora_bridge.agora import schemas as wire
from agora_bridge.agora.client import AgoraClient
from agora_bridge.agora.mapping import Body, body_for, from_wire
from agora_bridge.decision.dossier import AgoraDossier, Operation

Answer = wire.CreationAcceptee | wire.TransitionAppliquee | wire.Dossier


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An operation ready to leave: its body, and the digest of the bytes the client sends."""

    operation: Operation
    body: Body
    digest: str

    @property
    def name(self) -> str:
        return type(self.operation).__name__


def outgoing(op: Operation, *, code_financeur: str) -> Outgoing:
    body = body_for(op, code_financeur=code_financeur)
    # The client sends exactly `model_dump_json()`: the digest is of those bytes.
    digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    return Outgoing(op, body, digest)


async def send(
    client: AgoraClient,
    out: Outgoing,
    *,
    id_agora: str | None,
    idempotency_key: str | None,
    request_id: str,
) -> Answer:
    body = out.body
    if isinstance(body, wire.Creation):
        assert idempotency_key is not None
        return await client.creer(
            creation=body, idempotency_key=idempotency_key, request_id=request_id
        )
    assert id_agora is not None  # every other operation follows a creation or a link
    match body:
        case wire.Entree():
            return await client.entrer(id_agora=id_agora, entree=body, request_id=request_id)
        case wire.Sortie():
            return await client.sortir(id_agora=id_agora, sortie=body, request_id=request_id)
        case wire.Solde():
            return await client.solder(id_agora=id_agora, solde=body, request_id=request_id)
        case wire.Annulation():
            return await client.annuler(id_agora=id_agora, annulation=body, request_id=request_id)
        case wire.Rectification():
            return await client.rectifier(
                id_agora=id_agora, rectification=body, request_id=request_id
            )
    raise TypeError(type(body).__name__)


async def read(client: AgoraClient, id_agora: str, *, request_id: str) -> AgoraDossier:
    return from_wire(await client.lire(id_agora=id_agora, request_id=request_id))


async def search(
    client: AgoraClient, reference: str, *, code_financeur: str, request_id: str
) -> str | None:
    """Our dossier's `id_agora` when AGORA has it. The search lists every financeur's
    dossiers with that reference: only ours count."""
    results = await client.rechercher(reference_financeur=reference, request_id=request_id)
    ours = [
        r.id_agora
        for r in results
        if r.code_financeur == code_financeur and r.reference_financeur == reference
    ]
    return ours[0] if ours else None
