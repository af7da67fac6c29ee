"""The interleavings of `../shared/design/delivery.md` (rows 1-7, 11-13), each forced, on
SQLite and PostgreSQL, against the mock over loopback.

The mock's counters say whether the bridge sent something twice: `creations_refusees_existant`
(a second creation), `transitions_deja_appliquees` (a transition again), the 422s of a key
reused with another body; each dossier's `historique` says in what order.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update

from agora_bridge.delivery.claims import claim_due
from agora_bridge.delivery.recorder import Record, Recorder, Written
from agora_bridge.ledger.store import read_chain
from agora_bridge.storage.executor import on_session
from agora_bridge.storage.models import EtatAgora, Livraison
from tests.builders import snapshot
from tests.delivery.checks import assert_every_attempt_has_its_outcome
from tests.delivery.faulty import SIRET_REFUSED
from tests.delivery.harness import CRYPTO, Bridge, delivery, historique

CREATION = r"/dossiers$"
ENTREE = r"/dossiers/AG[0-9]+/entree$"


async def sent_twice(bridge: Bridge) -> dict[str, int]:
    """What the mock counts of calls that repeat an applied one, and keys reused."""
    stats = await bridge.stats()
    reused = sum(n for key, n in stats["requetes"].items() if key.endswith(" 422"))
    return {
        "creations_refusees_existant": stats["creations_refusees_existant"],
        "transitions_deja_appliquees": stats["transitions_deja_appliquees"],
        "422": reused,
    }


NOTHING_TWICE = {"creations_refusees_existant": 0, "transitions_deja_appliquees": 0, "422": 0}


# ---- 1. A creation applied, its answer lost; meanwhile a newer snapshot --------------------


async def test_1_lost_creation_then_newer_snapshot_searches_first(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        bridge.transport.lose("POST", CREATION, times=10)  # every retry of the client too
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1"))
        await bridge.engine(retry_base_s=5, retry_cap_s=5).run_once()
        item = await bridge.item("PDL-1")
        assert (item.etat, item.verifier) == ("A_FAIRE", True)
        assert list(await bridge.on_agora()) == ["PDL-1"]  # applied, answer lost

        renamed = snapshot("ENTRE", id_dossier="PDL-1", version=2, **{"stagiaire.prenom": "Paul"})
        await bridge.ingest(renamed)
        bridge.transport.losses.clear()
        await bridge.drain(bridge.engine(clock=lambda: datetime.now(UTC) + timedelta(seconds=10)))

        dossier = (await bridge.on_agora())["PDL-1"]
        assert historique(dossier) == ["CREATION", "RECTIFICATION", "ENTREE"]
        assert dossier["titulaire"]["prenom"] == "PAUL"
        assert await sent_twice(bridge) == NOTHING_TWICE
        # The one creation body went out under one key, on every retry of the client.
        keys = {r.headers["Idempotency-Key"] for r in bridge.transport.requests("POST", CREATION)}
        assert len(keys) == 1


async def test_1_the_same_body_keeps_its_key_across_passes(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        bridge.transport.refuse("POST", CREATION, times=4)  # two passes of two client tries
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1"))
        await bridge.drain()
        keys = [r.headers["Idempotency-Key"] for r in bridge.transport.requests("POST", CREATION)]
        assert len(keys) == 5
        assert len(set(keys)) == 1
        assert historique((await bridge.on_agora())["PDL-1"]) == ["CREATION"]
        assert (await bridge.item("PDL-1")).idempotency_key is None  # done with it


async def test_1_a_changed_body_gets_a_new_key_after_searching(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        bridge.transport.refuse("POST", CREATION, times=2)
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1"))
        await bridge.engine(retry_base_s=5, retry_cap_s=5).run_once()
        changed = snapshot("VALIDE", id_dossier="PDL-1", version=2, date_validation="2019-02-21")
        await bridge.ingest(changed)
        await bridge.drain(bridge.engine(clock=lambda: datetime.now(UTC) + timedelta(seconds=10)))
        keys = [r.headers["Idempotency-Key"] for r in bridge.transport.requests("POST", CREATION)]
        assert len(keys) == 3
        assert len(set(keys)) == 2  # the old key never carries the new body
        assert await sent_twice(bridge) == NOTHING_TWICE
        assert (await bridge.on_agora())["PDL-1"]["date_validation"] == "2019-02-21"


# ---- 2. A transition's answer lost ---------------------------------------------------------


async def test_2_lost_transition_is_read_back_not_resent(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        bridge.transport.lose("POST", ENTREE)
        await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1"))
        await bridge.drain()
        assert historique((await bridge.on_agora())["PDL-1"]) == ["CREATION", "ENTREE"]
        assert len(bridge.transport.requests("POST", ENTREE)) == 1
        assert len(bridge.transport.requests("GET", r"/dossiers/AG")) == 1
        assert await sent_twice(bridge) == NOTHING_TWICE
        assert (await bridge.item("PDL-1")).etat == "A_JOUR"


async def forget_the_entry(bridge: Bridge) -> None:
    """Our acknowledged state loses the entry AGORA has (as if its outcome never committed)."""
    async with bridge.sessions() as session, session.begin():
        etat = await session.get(EtatAgora, "PDL-1")
        assert etat is not None
        acquitte = dict(etat.acquitte)
        acquitte.update(statut="VALIDE", entree=None)
        etat.acquitte = acquitte


@pytest.mark.parametrize(
    ("date_entree", "expected"),
    [
        ("2019-03-04", ["CREATION", "ENTREE"]),
        ("2019-03-05", ["CREATION", "ENTREE", "RECTIFICATION"]),
    ],
)
async def test_2_a_409_with_our_values_is_success_with_others_a_rectification(
    database_url: str, date_entree: str, expected: list[str]
) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1"))
        await bridge.drain()
        await forget_the_entry(bridge)
        await bridge.ingest(
            snapshot("ENTRE", id_dossier="PDL-1", version=2, date_entree=date_entree)
        )
        await bridge.drain()
        dossier = (await bridge.on_agora())["PDL-1"]
        assert historique(dossier) == expected
        assert dossier["entree"]["date_entree"] == date_entree
        assert (await bridge.stats())["transitions_deja_appliquees"] == 1
        item = await bridge.item("PDL-1")
        assert (item.etat, item.code) == ("A_JOUR", None)  # never parked


# ---- 3. A worker stalls past its lease; another takes over; the first wakes --------------


async def test_3_a_stalled_worker_sends_nothing_once_its_lease_lapsed(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1"))
        async with bridge.sessions() as session, session.begin():
            stalled = await claim_due(
                on_session(session),
                owner="A",
                now=datetime.now(UTC),
                lease=timedelta(milliseconds=1),
                limit=1,
            )
        await asyncio.sleep(0.01)
        b = bridge.engine()
        await bridge.drain(b)  # B claims the lapsed item (verifier) and delivers it
        before = len(bridge.transport.sent)
        a = bridge.engine()
        await a.work_on(stalled)  # A wakes up
        assert len(bridge.transport.sent) == before  # A sent nothing
        assert a.stats.fenced == 1
        assert historique((await bridge.on_agora())["PDL-1"]) == ["CREATION", "ENTREE"]
        assert await sent_twice(bridge) == NOTHING_TWICE


async def test_3_one_lapsed_item_of_a_claim_fences_that_item_only(database_url: str) -> None:
    """The items of one claim share its token: B takes over the one whose lease lapsed, A
    sends nothing for it, and still delivers the other, whose lease runs."""
    async with delivery(database_url) as bridge:
        await bridge.ingest(*(snapshot("ENTRE", id_dossier=f"PDL-{n}") for n in (1, 2)))
        async with bridge.sessions() as session, session.begin():
            stalled = await claim_due(
                on_session(session),
                owner="A",
                now=datetime.now(UTC),
                lease=timedelta(minutes=5),
                limit=2,
            )
            assert len({claim.token for claim in stalled}) == 1
            lapsed = datetime.now(UTC) - timedelta(seconds=1)
            await session.execute(
                update(Livraison).where(Livraison.id_dossier == "PDL-1").values(lease_until=lapsed)
            )
        b = bridge.engine()
        assert await b.run_once() >= 1  # B claims PDL-1 (verifier) and delivers it
        before = len(bridge.transport.sent)
        a = bridge.engine()
        await a.work_on(stalled)  # A wakes up
        assert a.stats.fenced == 1
        assert len(bridge.transport.sent) > before  # A delivered PDL-2
        assert all(b'"PDL-1"' not in sent.content for sent in bridge.transport.sent[before:])
        agora = await bridge.on_agora()
        assert {historique(agora[f"PDL-{n}"])[-1] for n in (1, 2)} == {"ENTREE"}
        assert await bridge.pending() == 0
        assert await sent_twice(bridge) == NOTHING_TWICE


async def test_3_an_outcome_is_dropped_when_the_claim_is_no_longer_ours(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1"))
        now = datetime.now(UTC)
        async with bridge.sessions() as session, session.begin():
            (a,) = await claim_due(
                on_session(session), owner="A", now=now, lease=timedelta(seconds=60), limit=1
            )
            await session.execute(update(Livraison).values(lease_owner="B:other"))
        recorder = Recorder(bridge.sessions, CRYPTO, lambda: now)
        async with recorder:
            generation = await recorder.commit(Record("PDL-1", a.token, {"etat": "A_JOUR"}))
        assert generation is None
        assert (await bridge.item("PDL-1")).etat == "A_FAIRE"


# ---- 4 and 13. Two replicas at once --------------------------------------------------------


async def test_4_two_engines_at_once_send_each_step_once(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(*(snapshot("SOLDE", id_dossier=f"PDL-{n}") for n in range(40)))
        first, second = bridge.engine(), bridge.engine()
        await asyncio.gather(first.run_once(), second.run_once())
        await bridge.drain()
        agora = await bridge.on_agora()
        assert len(agora) == 40
        assert {tuple(historique(d)) for d in agora.values()} == {
            ("CREATION", "ENTREE", "SORTIE", "SOLDE")
        }
        assert await sent_twice(bridge) == NOTHING_TWICE
        assert await bridge.ledger_intact()  # 13: two appenders, one chain


# ---- 5. kill -9 between AGORA's answer and our commit of it ------------------------------


class Killed(Exception):
    """The process dies here: nothing after it is committed."""


async def test_5_death_before_the_outcome_commits_reads_back_on_restart(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1"))
        original = Recorder.write  # every record of a pass goes through it

        async def dies_on_outcomes(self: Recorder, record: Record) -> Written | None:
            if any(e.kind == "agora.outcome" for e in record.entries):
                raise Killed
            return await original(self, record)

        monkeypatch.setattr(Recorder, "write", dies_on_outcomes)
        await bridge.engine().run_once()
        monkeypatch.setattr(Recorder, "write", original)
        assert historique((await bridge.on_agora())["PDL-1"]) == ["CREATION"]

        later = datetime.now(UTC) + timedelta(seconds=bridge.settings.lease_s + 1)
        restarted = bridge.engine(clock=lambda: later)
        await restarted.run_once()
        await bridge.drain(restarted)
        assert historique((await bridge.on_agora())["PDL-1"]) == ["CREATION", "ENTREE"]
        assert await sent_twice(bridge) == NOTHING_TWICE


# ---- 6. Parked, then a corrected snapshot ---------------------------------------------------


FUTURE = {
    "date_validation": "2029-01-10",
    "session.date_debut": "2029-02-01",
    "session.date_fin": "2029-06-30",
}


async def test_6_a_parked_dossier_reopens_with_the_corrected_snapshot(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        # A rule the bridge's model does not make (AGORA's own SIRET register, say): parked.
        bridge.transport.refuse("POST", CREATION, status=422, body=SIRET_REFUSED)
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1"))
        await bridge.drain()
        item = await bridge.item("PDL-1")
        assert (item.etat, item.code) == ("PARQUE", "SIRET_INVALIDE")
        assert item.message is not None
        assert not await bridge.on_agora()

        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1", version=2))
        assert (await bridge.item("PDL-1")).etat == "A_FAIRE"
        await bridge.drain()
        item = await bridge.item("PDL-1")
        assert (item.etat, item.code, item.message) == ("A_JOUR", None, None)
        assert historique((await bridge.on_agora())["PDL-1"]) == ["CREATION"]


async def test_6_a_step_dated_after_today_is_held_not_sent(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        # Valid for the Région (its clock said 2030), after today for AGORA: the planner
        # checks the creation against AGORA's rules with today, and holds it.
        await bridge.ingest_on(date(2030, 1, 1), snapshot("VALIDE", id_dossier="PDL-1", **FUTURE))
        await bridge.drain()
        item = await bridge.item("PDL-1")
        assert (item.etat, item.motif_retenue) == ("RETENU", "REFUS_PREVU_DATE_FUTURE")
        assert not bridge.transport.requests("POST", CREATION)
        assert not await bridge.on_agora()


# ---- 7. Versions out of order ---------------------------------------------------------------


async def test_7_an_older_version_arriving_late_is_never_sent(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        report = await bridge.ingest(
            snapshot("SORTI", id_dossier="PDL-1", version=3),
            snapshot("ENTRE", id_dossier="PDL-1", version=2),
        )
        assert report.outcomes == {"ACCEPTE": 1, "IGNORE_VERSION_ANCIENNE": 1}
        await bridge.drain()
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1", version=1))
        assert (await bridge.item("PDL-1")).etat == "A_JOUR"  # not reopened
        await bridge.drain()
        dossier = (await bridge.on_agora())["PDL-1"]
        assert historique(dossier) == ["CREATION", "ENTREE", "SORTIE"]


# ---- 11. AGORA down -----------------------------------------------------------------------


async def test_11_the_breaker_opens_probes_and_closes_by_itself(database_url: str) -> None:
    async with delivery(
        database_url, breaker_threshold=3, breaker_pause_s=0.1, breaker_max_pause_s=0.2
    ) as bridge:
        await bridge.ingest(*(snapshot("VALIDE", id_dossier=f"PDL-{n}") for n in range(20)))
        await bridge.faults({"outage": {"from_s": 0, "to_s": 0.6}})
        engine = bridge.engine()
        await bridge.drain(engine)
        assert engine.breaker.opened >= 1
        assert engine.breaker.state == "closed"
        assert len(await bridge.on_agora()) == 20
        # Opened, it sent nothing until a probe: no attempt recorded without its call.
        await assert_every_attempt_has_its_outcome(bridge)  # nothing recorded but not sent


# ---- 12. A Retry-After of an hour -----------------------------------------------------------


async def test_12_a_long_retry_after_becomes_due_at_and_frees_the_claim(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1"))
        await bridge.faults({"rate_limit_rate": 1.0, "retry_after_s": 3600})
        started = datetime.now(UTC)
        async with asyncio.timeout(5):
            await bridge.engine().run_once()
        item = await bridge.item("PDL-1")
        assert (item.etat, item.lease_owner, item.lease_until) == ("A_FAIRE", None, None)
        assert item.due_at >= started + timedelta(seconds=3590)
        async with bridge.sessions() as session:
            kinds = [link.entry.kind async for link in read_chain(session)]
        assert "agora.attempt" not in kinds  # the token was refused: nothing left for AGORA
