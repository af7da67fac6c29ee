"""The engine's happy paths, on SQLite and PostgreSQL against the mock over loopback."""

from __future__ import annotations

from agora_bridge.ledger.store import read_chain
from tests.builders import snapshot
from tests.delivery.harness import delivery, historique


async def test_a_new_dossier_goes_out_step_by_step(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(snapshot("SOLDE", id_dossier="PDL-1"))
        await bridge.drain()
        agora = await bridge.on_agora()
        assert historique(agora["PDL-1"]) == ["CREATION", "ENTREE", "SORTIE", "SOLDE"]
        item = await bridge.item("PDL-1")
        assert (item.etat, item.lease_owner, item.idempotency_key) == ("A_JOUR", None, None)
        assert await bridge.ledger_intact()


async def test_each_new_version_sends_only_what_changed(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1"))
        await bridge.drain()
        await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1", version=2))
        await bridge.drain()
        await bridge.ingest(
            snapshot("ENTRE", id_dossier="PDL-1", version=3, date_entree="2019-03-05")
        )
        await bridge.drain()
        dossier = (await bridge.on_agora())["PDL-1"]
        assert historique(dossier) == ["CREATION", "ENTREE", "RECTIFICATION"]
        assert dossier["entree"]["date_entree"] == "2019-03-05"
        stats = await bridge.stats()
        assert stats["transitions_deja_appliquees"] == 0
        assert stats["creations_refusees_existant"] == 0


async def test_every_attempt_and_outcome_is_in_the_ledger(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1"))
        await bridge.drain()
        async with bridge.sessions() as session:
            entries = [link.entry async for link in read_chain(session)]
        facts = [(e.kind, e.operation) for e in entries]
        assert facts == [
            ("snapshot.decision", "ACCEPTE"),
            ("agora.attempt", "Creer"),
            ("agora.outcome", "Creer"),
            ("agora.attempt", "Entrer"),
            ("agora.outcome", "Entrer"),
        ]
        attempt, outcome = entries[1], entries[2]
        assert attempt.request_id == outcome.request_id
        assert attempt.body_digest is not None
        assert (outcome.http_status, outcome.code) == (201, "SUCCES")
