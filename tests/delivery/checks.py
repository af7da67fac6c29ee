"""What every soak checks at the end: AGORA holds exactly the newest state of each sendable
dossier, each created once, each history in order with no step twice; nothing pending; every
parked dossier parked for AGORA's business reason."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy import select

from agora_bridge.agora.mapping import from_wire
from agora_bridge.agora.schemas import Dossier, from_agora
from agora_bridge.decision.planner import project
from agora_bridge.ledger.store import read_chain
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.storage.models import Livraison
from tests.delivery.harness import Bridge, historique
from tests.delivery.histories import History

# The order AGORA's steps may take; rectifications may come between any two.
ORDER = {"CREATION": 0, "ENTREE": 1, "SORTIE": 2, "SOLDE": 3, "ANNULATION": 3}


def in_order(steps: list[str]) -> bool:
    transitions = [s for s in steps if s != "RECTIFICATION"]
    ranks = [ORDER[s] for s in transitions]
    return (
        bool(transitions)
        and transitions[0] == "CREATION"
        and ranks == sorted(ranks)
        and len(set(transitions)) == len(transitions)
    )


async def ingest_concurrently(
    bridge: Bridge, versions: list[Snapshot], refused: Sequence[Snapshot] = ()
) -> None:
    """Six ingests at once (the refused ones among them)."""
    chunks = [versions[i::6] for i in range(6)]
    await asyncio.gather(
        *(bridge.ingest(*chunk) for chunk in chunks),
        bridge.ingest(*refused),
    )


async def assert_end_state(bridge: Bridge, histories: list[History]) -> None:
    agora = await bridge.on_agora()
    for h in histories:
        if h.refused:
            assert h.id_dossier not in agora
            continue
        held = agora[h.id_dossier]
        assert from_wire(from_agora(Dossier, held)) == project(h.newest), h.id_dossier
        assert in_order(historique(held)), (h.id_dossier, historique(held))
    stats = await bridge.stats()
    assert stats["creations_refusees_existant"] == 0
    assert stats["transitions_deja_appliquees"] == 0
    assert len(agora) == len([h for h in histories if not h.refused])


async def assert_work_items(bridge: Bridge, *, parked: int) -> None:
    async with bridge.sessions() as session:
        items = (await session.execute(select(Livraison))).scalars().all()
    assert {item.etat for item in items} <= {"A_JOUR", "PARQUE"}
    parked_items = [item for item in items if item.etat == "PARQUE"]
    assert len(parked_items) == parked
    for item in parked_items:
        assert item.code == "SIRET_INVALIDE"
        assert item.message


async def assert_every_attempt_has_its_outcome(bridge: Bridge) -> None:
    """Invariant 4: each call that left has its attempt and its outcome in the ledger."""
    async with bridge.sessions() as session:
        entries = [link.entry async for link in read_chain(session)]
    attempts = [e.request_id for e in entries if e.kind == "agora.attempt"]
    outcomes = {e.request_id for e in entries if e.kind == "agora.outcome" and e.request_id}
    assert attempts
    assert len(set(attempts)) == len(attempts)
    assert set(attempts) == outcomes
