"""What the sync engine reports to the return flow, case by case, on SQLite and PostgreSQL:
a rejection then its correction, an ambiguous failure AGORA did not apply (nothing to say)
or did apply (said once, as read back), and a fenced record (nothing written)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from agora_bridge.delivery.claims import claim_due
from agora_bridge.delivery.recorder import Record, Recorder
from agora_bridge.storage.executor import on_session
from agora_bridge.storage.retours import Evenement, Event, read_after
from tests.builders import snapshot
from tests.delivery.faulty import SIRET_REFUSED
from tests.delivery.harness import CRYPTO, Bridge, delivery
from tests.delivery.test_interleavings import CREATION, ENTREE
from tests.delivery.watching import watch


async def reported(bridge: Bridge) -> list[tuple[str, int | None, str | None, str | None]]:
    async with bridge.sessions() as session:
        stored = await read_after(session, 0, 1000)
    return [(s.event.evenement, s.event.version, s.event.statut, s.event.code) for s in stored]


async def test_a_rejection_then_its_correction_reads_rejected_resumed_created(
    database_url: str,
) -> None:
    async with delivery(database_url) as bridge:
        bridge.transport.refuse("POST", CREATION, status=422, body=SIRET_REFUSED)
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1"))
        await bridge.drain()
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1", version=2))
        await bridge.drain()
        assert await reported(bridge) == [
            ("REJETE", 1, None, "SIRET_INVALIDE"),
            ("REPRIS", 2, "VALIDE", "SIRET_INVALIDE"),
            ("ID_AGORA_ATTRIBUE", 2, "VALIDE", "Creer"),
        ]
        async with bridge.sessions() as session:
            message = (await read_after(session, 0, 1))[0].event.message
        assert message is not None
        assert "organisme.siret: SIRET_INVALIDE" in message


QUOTING = {
    **SIRET_REFUSED,
    "detail": "titulaire DUPONT Jean, né le 12/05/1985 : organisme inconnu",
    "erreurs": [
        {
            "champ": "titulaire",
            "code": "SIRET_INVALIDE",
            "message": "Dupont (1985-05-12) rattaché à un SIRET fermé; DUPONTEL inchangé",
        }
    ],
}


async def test_a_refusal_quoting_the_stagiaire_keeps_its_words_but_not_the_person(
    database_url: str,
) -> None:
    """AGORA's wording may quote the names and birth date it holds: neither the parked work
    item nor the return flow keeps them (the NIR is redacted by its shape elsewhere)."""
    async with delivery(database_url) as bridge:
        bridge.transport.refuse("POST", CREATION, status=422, body=QUOTING)
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1"))  # Dupont Jean, 1985-05-12
        await bridge.drain()
        async with bridge.sessions() as session:
            reported_message = (await read_after(session, 0, 1))[0].event.message
        parked_message = (await bridge.item("PDL-1")).message
        for message in (reported_message, parked_message):
            assert message is not None
            assert "organisme inconnu" in message
            assert "DUPONTEL" in message  # a word that merely starts like the name stays
            for personal in ("DUPONT ", "Dupont ", "Jean", "12/05/1985", "1985-05-12"):
                assert personal not in message, personal


async def test_an_ambiguous_failure_not_applied_reports_nothing_more(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        bridge.transport.refuse("POST", ENTREE, status=500)  # ambiguous, never reached AGORA
        await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1"))
        await bridge.drain()
        assert len(bridge.transport.requests("GET", r"/dossiers/AG")) == 1  # read back
        assert await reported(bridge) == [
            ("ID_AGORA_ATTRIBUE", 1, "VALIDE", "Creer"),
            ("ETAT_ACQUITTE", 1, "ENTRE", "Entrer"),
        ]


async def test_an_applied_call_whose_answer_was_lost_is_reported_once_as_read(
    database_url: str,
) -> None:
    async with delivery(database_url) as bridge:
        bridge.transport.lose("POST", ENTREE, times=1)
        await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1"))
        await bridge.drain()
        assert await reported(bridge) == [
            ("ID_AGORA_ATTRIBUE", 1, "VALIDE", "Creer"),
            ("ETAT_ACQUITTE", 1, "ENTRE", "LU"),
        ]


async def test_a_fenced_record_writes_no_event(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1"))
        now = datetime.now(UTC)
        event = Event(Evenement.ETAT_ACQUITTE, "PDL-1", 1, now, "AG1", "VALIDE", "Creer")
        async with Recorder(bridge.sessions, CRYPTO, lambda: now) as recorder:
            record = Record("PDL-1", "not-the-claim", {"etat": "A_JOUR"}, retours=[event])
            assert await recorder.commit(record) is None
        assert await reported(bridge) == []


async def test_a_group_commit_inserts_its_events_in_one_statement(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(*(snapshot("VALIDE", id_dossier=f"PDL-{n}") for n in range(3)))
        now = datetime.now(UTC)
        async with bridge.sessions() as session, session.begin():
            claims = await claim_due(
                on_session(session), owner="A", now=now, lease=timedelta(seconds=60), limit=3
            )
        groups = watch(monkeypatch)
        async with Recorder(bridge.sessions, CRYPTO, lambda: now) as recorder:
            records = [
                Record(
                    claim.id_dossier,
                    claim.token,
                    {"etat": "A_JOUR"},
                    retours=[Event(Evenement.RETENU, claim.id_dossier, 1, now, code="X")],
                )
                for claim in claims
            ]
            generations = await asyncio.gather(*(recorder.commit(r) for r in records))
        assert None not in generations
        inserts = [
            (sql, n) for g in groups for sql, n in g.calls if sql.startswith("INSERT INTO retour")
        ]
        assert [n for _, n in inserts] == [3]  # one statement, one round trip: 3 parameter sets
        assert [e for e, *_ in await reported(bridge)] == ["RETENU"] * 3
