"""The engine's happy paths, on SQLite and PostgreSQL against the mock over loopback."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from agora_bridge.agora.client import AgoraClient
from agora_bridge.cli.sync import IDLE_PING_S
from agora_bridge.delivery.claims import Claim
from agora_bridge.delivery.engine import Engine
from agora_bridge.delivery.stats import queue_status
from agora_bridge.ledger.store import read_chain, verify_ledger
from agora_bridge.storage.db import async_database_url
from agora_bridge.storage.models import Livraison
from tests.builders import snapshot
from tests.conftest import throwaway_pg_database
from tests.delivery.checks import assert_every_attempt_has_its_outcome
from tests.delivery.faulty import Faulty
from tests.delivery.harness import (
    CODE_FINANCEUR,
    CRYPTO,
    Bridge,
    agora_settings,
    delivery,
    historique,
)
from tests.mocks.builders import ligne


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


async def test_a_step_undone_is_held_with_its_reason_then_resumes(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(snapshot("SORTI", id_dossier="PDL-1"))
        await bridge.drain()
        sent = len(bridge.transport.sent)
        await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1", version=2))
        await bridge.drain()
        item = await bridge.item("PDL-1")
        assert (item.etat, item.motif_retenue) == ("RETENU", "RETOUR_ARRIERE")
        assert len(bridge.transport.sent) == sent  # nothing sent
        async with bridge.sessions() as session:
            entries = [link.entry async for link in read_chain(session)]
        assert (entries[-1].kind, entries[-1].code) == ("dossier.hold", "RETOUR_ARRIERE")

        await bridge.ingest(snapshot("SOLDE", id_dossier="PDL-1", version=3))
        await bridge.drain()
        assert (await bridge.item("PDL-1")).etat == "A_JOUR"
        assert historique((await bridge.on_agora())["PDL-1"])[-1] == "SOLDE"


async def test_a_dossier_without_nir_is_held_until_one_comes(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1", **{"stagiaire.nir": None}))
        await bridge.drain()
        item = await bridge.item("PDL-1")
        assert (item.etat, item.motif_retenue) == ("RETENU", "NIR_ABSENT")
        assert not bridge.transport.sent
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1", version=2))
        await bridge.drain()
        assert historique((await bridge.on_agora())["PDL-1"]) == ["CREATION"]


async def test_a_sent_dossier_excluded_later_is_held_visibly(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1"))
        await bridge.drain()
        vae = snapshot("ENTRE", id_dossier="PDL-1", version=2, **{"programme.categorie": "VAE"})
        await bridge.ingest(vae)
        await bridge.drain()
        item = await bridge.item("PDL-1")
        assert (item.etat, item.motif_retenue) == ("RETENU", "CATEGORIE_VAE")
        assert historique((await bridge.on_agora())["PDL-1"]) == ["CREATION"]


async def test_the_queue_status_counts_what_ops_will_show(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(
            snapshot("VALIDE", id_dossier="PDL-1"),
            snapshot("VALIDE", id_dossier="PDL-2", **{"stagiaire.nir": None}),
            snapshot("VALIDE", id_dossier="PDL-3"),
        )
        now = datetime.now(UTC)
        async with bridge.sessions() as session:
            before = await queue_status(session, now=now + timedelta(seconds=60))
        assert (before.by_etat, before.due_now) == ({"A_FAIRE": 3}, 3)
        assert before.oldest_pending_age_s is not None
        assert before.oldest_pending_age_s >= 59
        engine = bridge.engine()
        await bridge.drain(engine)
        async with bridge.sessions() as session:
            after = await queue_status(session, now=datetime.now(UTC))
        assert after.by_etat == {"A_JOUR": 2, "RETENU": 1}
        assert (after.held_by_reason, after.parked, after.oldest_pending_age_s) == (
            {"NIR_ABSENT": 1},
            0,
            None,
        )
        assert engine.stats.operations[("Creer", "SUCCES")] == 2
        assert engine.stats.latency_count == sum(engine.stats.latency_buckets) >= 4
        assert engine.breaker.state == "closed"


async def test_a_stuck_dossier_never_holds_up_the_others(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        release = bridge.transport.hold("PDL-STUCK")  # its search waits on a slow AGORA
        others = [snapshot("ENTRE", id_dossier=f"PDL-{n}") for n in range(10)]
        await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-STUCK"), *others)
        running = asyncio.create_task(bridge.engine(concurrency=4).run_once())
        async with asyncio.timeout(20):
            while len(await bridge.on_agora()) < 10:
                await asyncio.sleep(0.05)
        assert "PDL-STUCK" not in await bridge.on_agora()
        assert (await bridge.item("PDL-STUCK")).lease_owner is not None  # still its worker's
        release.set()
        await running
        assert historique((await bridge.on_agora())["PDL-STUCK"]) == ["CREATION", "ENTREE"]


async def test_the_workers_share_one_rate_limit_towards_agora(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(*(snapshot("VALIDE", id_dossier=f"PDL-{n}") for n in range(20)))
        limited = AgoraClient(agora_settings(bridge.mock.url, max_rps=20), transport=Faulty())
        async with limited:
            engine = Engine(
                bridge.sessions, limited, CRYPTO, bridge.settings, code_financeur=CODE_FINANCEUR
            )
            started = time.monotonic()
            await engine.run_once()
            elapsed = time.monotonic() - started
        assert len(await bridge.on_agora()) == 20
        # 41 calls (a token, 20 searches, 20 creations): a burst of 20, then 20 a second.
        assert elapsed >= 0.9


async def seed_on_agora(bridge: Bridge, line: dict[str, object]) -> str:
    """A dossier AGORA already holds (another channel, another financeur)."""
    async with httpx.AsyncClient(base_url=bridge.mock.url) as http:
        response = await http.post("/__mock__/dossiers", json=line)
        assert response.status_code == 201, response.text
        id_agora: str = response.json()["id_agora"]
        return id_agora


async def test_another_financeurs_dossier_with_our_reference_is_not_ours(
    database_url: str,
) -> None:
    async with delivery(database_url) as bridge:
        theirs = await seed_on_agora(bridge, ligne("PDL-1", "ENTRE", code_financeur="REG11"))
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1"))
        await bridge.drain()
        ours = await bridge.on_agora()
        assert historique(ours["PDL-1"]) == ["CREATION"]  # created, not linked to theirs
        assert ours["PDL-1"]["id_agora"] != theirs


async def test_a_creation_answered_dossier_existant_links_and_continues(
    database_url: str,
) -> None:
    async with delivery(database_url) as bridge:
        # AGORA has it (another channel) but its search does not show it yet.
        existing = await seed_on_agora(bridge, ligne("PDL-1", "VALIDE"))
        bridge.transport.refuse("POST", r"/dossiers/recherche$", status=200, body={"resultats": []})
        await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1"))
        await bridge.drain()
        dossier = (await bridge.on_agora())["PDL-1"]
        assert dossier["id_agora"] == existing
        assert historique(dossier) == ["CREATION", "ENTREE"]  # ours: the entry, on theirs
        assert (await bridge.stats())["creations_refusees_existant"] == 1
        item = await bridge.item("PDL-1")
        assert (item.etat, item.code, item.idempotency_key) == ("A_JOUR", None, None)


async def test_between_runs_the_engine_waits_for_the_next_claimable_item(
    database_url: str,
) -> None:
    async with delivery(database_url) as bridge:
        engine = bridge.engine(interval_s=60)
        assert await engine._until_next_due(60) == 60  # nothing pending: the tick
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1"))
        assert await engine._until_next_due(60) == 0.01  # due now (never a hot loop)
        leased = datetime.now(UTC) + timedelta(seconds=30)
        async with bridge.sessions() as session, session.begin():
            await session.execute(update(Livraison).values(lease_owner="A:x", lease_until=leased))
        # Due, but claimed by a worker that may be dead: claimable when its lease lapses.
        assert 28 <= await engine._until_next_due(60) <= 30


async def test_asked_to_stop_it_finishes_its_passes_and_frees_the_rest(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(*(snapshot("SORTI", id_dossier=f"PDL-{n}") for n in range(12)))
        engine = bridge.engine(concurrency=2)
        stop = asyncio.Event()
        running = asyncio.create_task(engine.run_forever(stop))
        async with asyncio.timeout(20):
            while not await bridge.on_agora():
                await asyncio.sleep(0.01)
        stop.set()
        await running
        agora = await bridge.on_agora()
        assert 0 < len(agora) < 12
        # Every dossier it started went all the way; none is left claimed.
        assert {tuple(historique(d)) for d in agora.values()} == {("CREATION", "ENTREE", "SORTIE")}
        assert await leased(bridge) == 0
        assert await bridge.pending() == 12 - len(agora)


async def leased(bridge: Bridge) -> int:
    """Work items whose claim is still held."""
    async with bridge.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Livraison).where(Livraison.lease_owner.is_not(None))
        )
    return int(count or 0)


async def test_asked_to_stop_during_a_claim_it_starts_no_pass_and_frees_it(
    database_url: str,
) -> None:
    """SIGTERM while a worker's claim is in flight: what the claim took is freed at once,
    none of it started (the worker used to start a pass on it after the stop)."""
    async with delivery(database_url) as bridge:
        await bridge.ingest(*(snapshot("SORTI", id_dossier=f"PDL-{n}") for n in range(3)))
        engine = bridge.engine(concurrency=2)
        real_claim = engine._claim

        async def claim_then_stop() -> list[Claim]:
            claimed = await real_claim()
            engine.stop()
            return claimed

        engine._claim = claim_then_stop  # type: ignore[method-assign]
        assert await engine.run_once() == 0
        assert not bridge.transport.sent
        assert await leased(bridge) == 0
        assert await bridge.pending() == 3


async def test_a_step_of_a_snapshot_superseded_during_a_call_is_never_sent(
    database_url: str,
) -> None:
    """The creation's success rides with the entry's attempt (one commit a call); a newer
    snapshot stored during the creation voids that attempt: the entry goes with its date."""
    async with delivery(database_url) as bridge:
        release = bridge.transport.hold('"titulaire"')  # the creation's body only
        await bridge.ingest(snapshot("ENTRE", id_dossier="PDL-1"))
        running = asyncio.create_task(bridge.engine().run_once())
        async with asyncio.timeout(10):
            while not bridge.transport.requests("POST", r"/dossiers$"):
                await asyncio.sleep(0.01)
        newer = snapshot("ENTRE", id_dossier="PDL-1", version=2, date_entree="2019-03-05")
        await bridge.ingest(newer)
        release.set()
        await running
        await bridge.drain()
        dossier = (await bridge.on_agora())["PDL-1"]
        assert historique(dossier) == ["CREATION", "ENTREE"]  # no entry to rectify
        (entree,) = bridge.transport.requests("POST", r"/entree$")
        assert b'"date_entree":"2019-03-05"' in entree.content
        await assert_every_attempt_has_its_outcome(bridge)
        assert await bridge.ledger_intact()


async def test_a_claim_failing_mid_tick_lets_the_passes_in_flight_finish(
    database_url: str,
) -> None:
    """A worker's claim fails (a connection a PostgreSQL restart broke, the pool no longer
    checking it): the tick fails, but only once the other workers' passes have ended, their
    outcomes committed. Before, the tick's recorder was cancelled under them: a pass still in
    flight waited for ever on its next record (its claim left to lapse, its task leaked)."""
    async with delivery(database_url, concurrency=2) as bridge:
        await bridge.ingest(
            snapshot("VALIDE", id_dossier="PDL-1"), snapshot("SOLDE", id_dossier="PDL-2")
        )
        await bridge.faults({"seed": 1, "latency_ms": [100, 100]})
        engine = bridge.engine()
        real_claim = engine._claim
        claims = 0

        async def claim_then_fail() -> list[Claim]:
            nonlocal claims
            claims += 1
            if claims == 1:
                return await real_claim()
            raise OperationalError("claim", {}, ConnectionError("connection is closed"))

        engine._claim = claim_then_fail  # type: ignore[method-assign]
        with pytest.raises(OperationalError):
            async with asyncio.timeout(30):
                await engine.run_once()
        # PDL-1's pass (two calls) ended first; its worker's claim failed while PDL-2's
        # pass (five calls) was still going: that pass finished and released its claim.
        item = await bridge.item("PDL-2")
        assert (item.etat, item.lease_owner) == ("A_JOUR", None)
        agora = await bridge.on_agora()
        assert historique(agora["PDL-2"]) == ["CREATION", "ENTREE", "SORTIE", "SOLDE"]
        assert await bridge.ledger_intact()


async def test_sync_recovers_by_itself_when_postgresql_drops_its_connections() -> None:
    """`sync`'s pool checks a connection only after 2 s idle: a PostgreSQL restart under load
    (every connection of the database terminated, several times, mid-delivery) fails some
    statements. Without anyone stepping in, every dossier still reaches AGORA once and in
    order, and the ledger stays whole."""
    async with (
        throwaway_pg_database() as url,
        delivery(
            url, engine_options={"ping_after_idle_s": IDLE_PING_S}, concurrency=4, lease_s=0.5
        ) as bridge,
    ):
        keys = [f"PDL-{n}" for n in range(8)]
        await bridge.ingest(*(snapshot("SOLDE", id_dossier=key) for key in keys))
        await bridge.faults({"seed": 3, "latency_ms": [20, 40]})
        admin = create_async_engine(async_database_url(url), poolclass=NullPool)
        engine = bridge.engine(interval_s=0.05)
        stop = asyncio.Event()
        running = asyncio.create_task(engine.run_forever(stop))
        terminated = 0
        try:
            for _ in range(3):
                await asyncio.sleep(0.4)
                async with admin.connect() as connection:
                    terminated += len((await connection.execute(text(_TERMINATE_OTHERS))).all())
            # Read through a connection of its own: the bridge's pool is the one under test.
            async with asyncio.timeout(60):
                while await _pending(admin):
                    await asyncio.sleep(0.1)
        finally:
            stop.set()
            await running
            async with admin.connect() as connection:
                intact = (await verify_ledger(AsyncSession(connection))).intact
            await admin.dispose()
        assert terminated > 0
        agora = await bridge.on_agora()
        assert sorted(agora) == keys
        for key in keys:
            assert historique(agora[key]) == ["CREATION", "ENTREE", "SORTIE", "SOLDE"]
        stats = await bridge.stats()
        assert stats["creations_refusees_existant"] == 0
        assert stats["transitions_deja_appliquees"] == 0
        assert intact


async def _pending(database: AsyncEngine) -> int:
    async with database.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(Livraison).where(Livraison.etat != "A_JOUR")
        )
        return count or 0


_TERMINATE_OTHERS = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


async def test_work_stored_while_a_claim_finds_nothing_is_not_left_for_the_next_tick(
    database_url: str,
) -> None:
    """An ingest commits and wakes the engine while a claim that began before it is in flight
    (it finds nothing). The other workers, waiting for the claim's lock, must claim again:
    that claim used to mark the engine drained after the wake, every worker ended, and the
    new dossier waited for the next interval (an hour under `serve`)."""
    async with delivery(database_url) as bridge:
        engine = bridge.engine(concurrency=3)
        real_claim = engine._claim
        first = True

        async def claim_during_an_ingest() -> list[Claim]:
            nonlocal first
            claimed = await real_claim()
            if first:  # the ingest commits after this claim's snapshot, before its answer
                first = False
                await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-LATE"))
                engine.wake()
            return claimed

        engine._claim = claim_during_an_ingest  # type: ignore[method-assign]
        assert await engine.run_once() == 1
        assert list(await bridge.on_agora()) == ["PDL-LATE"]
