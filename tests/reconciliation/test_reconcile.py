"""`reconcile` against the bundled mock over loopback, on SQLite and PostgreSQL: a dossier
changed or lost behind the bridge's back is found, reported by its ids and field names only,
and repaired by the sync engine (`../shared/design/delivery.md`, interleaving 14)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from structlog.testing import capture_logs

from agora_bridge.agora.client import AgoraClient
from agora_bridge.delivery.breaker import Breaker
from agora_bridge.ledger.store import read_chain
from agora_bridge.reconciliation import candidates
from agora_bridge.reconciliation.report import Report
from agora_bridge.reconciliation.run import READS_IN_FLIGHT, reconcile
from agora_bridge.reconciliation.runs import last_run
from agora_bridge.storage.livraisons import reverify
from agora_bridge.storage.models import EtatAgora, Livraison
from mocks import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from tests.builders import NIR, NIR_BODY, snapshot
from tests.delivery.harness import CRYPTO, Bridge, agora_settings, delivery, historique
from tests.stored_text import assert_absent, stored_bytes

# The builder's stagiaire, as the Région typed them and as AGORA holds them.
PERSONAL = (NIR, NIR_BODY, "Dupont", "DUPONT", "Jean", "JEAN", "1985-05-12")
TAMPERED = ("DURAND", "Durand", "1850578006085")


async def delivered(bridge: Bridge, *ids_and_steps: tuple[str, str]) -> None:
    await bridge.ingest(*(snapshot(step, id_dossier=key) for key, step in ids_and_steps))
    await bridge.drain()


async def behind_our_back(
    bridge: Bridge, reference: str, body: dict[str, Any], *, step: str | None = None
) -> None:
    """A PATCH (or a `step`) sent straight to the mock, as another of AGORA's users would."""
    id_agora = (await bridge.on_agora())[reference]["id_agora"]
    async with httpx.AsyncClient(base_url=f"{bridge.mock.url}/agora/v2") as http:
        form = {
            "grant_type": "client_credentials",
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
        }
        token = (await http.post("/oauth/token", data=form)).json()["access_token"]
        method, path = ("POST", f"/{step}") if step else ("PATCH", "")
        answer = await http.request(
            method,
            f"/dossiers/{id_agora}{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, answer.text


async def run(bridge: Bridge, *, sample: int | None = None, **options: Any) -> Report:
    return await reconcile(bridge.sessions, bridge.client, CRYPTO, sample=sample, **options)


def content(dossier: dict[str, Any]) -> dict[str, Any]:
    """A mock dossier without what changes with every call (its history)."""
    return {key: value for key, value in dossier.items() if key != "historique"}


async def reads_in_ledger(bridge: Bridge) -> list[tuple[str | None, str | None]]:
    async with bridge.sessions() as session:
        return [
            (link.entry.id_dossier, link.entry.code)
            async for link in read_chain(session)
            if link.entry.kind == "reconcile.read"
        ]


async def test_a_dossier_patched_behind_our_back_is_reported_then_repaired(
    database_url: str,
) -> None:
    async with delivery(database_url) as bridge:
        await delivered(bridge, ("PDL-1", "SORTI"), ("PDL-2", "ENTRE"), ("PDL-3", "VALIDE"))
        expected = content((await bridge.on_agora())["PDL-1"])
        patch = {
            "titulaire": {**expected["titulaire"], "nom_naissance": "DURAND"},
            "date_entree": "2019-03-05",
        }
        await behind_our_back(bridge, "PDL-1", patch)

        with capture_logs() as logs:
            report = await run(bridge)

        assert (report.lus, report.conformes, report.exit_status) == (3, 2, 1)
        [ecart] = report.ecarts
        assert (ecart.id_dossier, ecart.champs, ecart.absent) == (
            "PDL-1",
            ("titulaire", "date_entree"),
            False,
        )
        assert [log["id_dossier"] for log in logs if log["event"] == "reconcile.drift"] == ["PDL-1"]
        output = json.dumps([report.as_json(), logs], default=str)
        assert "date_entree" in output  # what the operator needs: the fields' names
        assert_absent(output.encode(), PERSONAL + TAMPERED + ("2019-03-05",))
        item = await bridge.item("PDL-1")
        assert (item.etat, item.verifier) == ("A_FAIRE", True)
        assert (await bridge.item("PDL-2")).etat == "A_JOUR"

        await bridge.drain()

        repaired = (await bridge.on_agora())["PDL-1"]
        assert content(repaired) == expected
        assert historique(repaired)[-2:] == ["RECTIFICATION", "RECTIFICATION"]  # theirs, ours
        assert (await run(bridge)).exit_status == 0
        # AGORA's tampered titulaire went through the acknowledged state: as a digest only.
        assert_absent(await stored_bytes(database_url), TAMPERED)
        assert sorted(await reads_in_ledger(bridge)) == sorted(
            [("PDL-1", "ECART"), ("PDL-2", "CONFORME"), ("PDL-3", "CONFORME")]
            + [(f"PDL-{n}", "CONFORME") for n in (1, 2, 3)]
        )
        assert await bridge.ledger_intact()


async def test_dossiers_lost_by_agora_are_absent_then_created_again(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await delivered(bridge, ("PDL-1", "SOLDE"), ("PDL-2", "ENTRE"))
        expected = {key: content(d) for key, d in (await bridge.on_agora()).items()}
        async with httpx.AsyncClient(base_url=bridge.mock.url) as http:
            (await http.post("/__mock__/reset")).raise_for_status()  # AGORA lost everything

        report = await run(bridge)

        assert report.absents == 2
        assert {(e.id_dossier, e.champs) for e in report.ecarts} == {("PDL-1", ()), ("PDL-2", ())}
        async with bridge.sessions() as session:
            assert (await session.scalars(select(EtatAgora.id_dossier))).all() == []
        await bridge.drain()
        again = await bridge.on_agora()
        for key in ("PDL-1", "PDL-2"):
            assert {k: v for k, v in content(again[key]).items() if k != "id_agora"} == {
                k: v for k, v in expected[key].items() if k != "id_agora"
            }
        assert historique(again["PDL-1"]) == ["CREATION", "ENTREE", "SORTIE", "SOLDE"]
        assert (await run(bridge)).exit_status == 0
        assert await bridge.ledger_intact()


async def test_a_step_taken_behind_our_back_is_held_visibly(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await delivered(bridge, ("PDL-1", "ENTRE"))
        exit_ = {"date_sortie": "2019-06-01", "motif_sortie": "ABANDON"}
        await behind_our_back(bridge, "PDL-1", exit_, step="sortie")
        [ecart] = (await run(bridge)).ecarts
        assert ecart.champs == ("statut", "sortie")
        await bridge.drain()
        # AGORA cannot undo an exit: the engine holds the dossier with the reason, never
        # silently (`docs/DELIVERY.md`).
        item = await bridge.item("PDL-1")
        assert (item.etat, item.motif_retenue) == ("RETENU", "RETOUR_ARRIERE")
        assert (await run(bridge)).exit_status == 0  # acknowledged as AGORA holds it now


async def test_nothing_drifted_nothing_handed_over(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await delivered(bridge, ("PDL-1", "ANNULE"), ("PDL-2", "SOLDE"))
        async with bridge.sessions() as session:
            assert await last_run(session) is None
        before = datetime.now(UTC)
        report = await run(bridge)
        assert report.as_json() == {
            "mode": "tout",
            "graine": None,
            "lus": 2,
            "conformes": 2,
            "ecarts": 0,
            "absents": 0,
            "occupes": 0,
            "echecs": {},
            "interrompu": False,
            "dossiers": [],
        }
        assert report.exit_status == 0
        assert {(await bridge.item(k)).etat for k in ("PDL-1", "PDL-2")} == {"A_JOUR"}
        await run(bridge, sample=1, seed=3)
        async with bridge.sessions() as session:
            last = await last_run(session)
        assert last is not None
        started, finished = (
            datetime.fromisoformat(last.pop(k)) for k in ("started_at", "finished_at")
        )
        assert before <= started <= finished <= datetime.now(UTC)
        expected = report.as_json() | {"mode": "echantillon", "graine": 3, "lus": 1}
        del expected["dossiers"]
        assert last == expected | {"conformes": 1}


async def test_a_dossier_a_pass_holds_is_not_compared(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await delivered(bridge, ("PDL-1", "ENTRE"))
        await behind_our_back(bridge, "PDL-1", {"date_entree": "2019-03-05"})
        lease = datetime.now(UTC) + timedelta(minutes=1)
        async with bridge.sessions() as session, session.begin():
            await session.execute(
                update(Livraison).values(lease_owner="elsewhere", lease_until=lease)
            )
        report = await run(bridge)
        assert (report.occupes, report.lus, report.ecarts) == (1, 0, [])
        assert len(bridge.transport.requests("GET", r"/dossiers/AG")) == 0


async def test_a_state_acknowledged_during_the_read_is_not_handed_over(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await delivered(bridge, ("PDL-1", "ENTRE"))
        async with bridge.sessions() as session:
            etat = await session.get(EtatAgora, "PDL-1")
            assert etat is not None
            seen = etat.acquitte_at
        now = datetime.now(UTC)
        async with bridge.sessions() as session, session.begin():
            stale = seen - timedelta(microseconds=1)
            assert not await reverify(session, "PDL-1", acknowledged_at=stale, forget=True, now=now)
            assert await reverify(session, "PDL-1", acknowledged_at=seen, forget=False, now=now)
        item = await bridge.item("PDL-1")
        assert (item.etat, item.verifier, item.generation) == ("A_FAIRE", True, 2)
        async with bridge.sessions() as session:
            assert await session.get(EtatAgora, "PDL-1") is not None  # not forgotten


async def test_a_sample_is_drawn_by_its_seed(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await delivered(bridge, *((f"PDL-{n}", "VALIDE") for n in range(12)))
        first, again = await run(bridge, sample=5, seed=7), await run(bridge, sample=5, seed=7)
        assert (first.lus, first.graine, first.mode) == (5, 7, "echantillon")
        assert first.as_json() == again.as_json()

        def drawn() -> list[str]:
            return [r.url.path for r in bridge.transport.requests("GET", r"/dossiers/AG")]

        reads = drawn()
        assert len(reads) == 10
        assert len(set(reads)) == 5
        assert reads[:5] == reads[5:]  # the same five, in the same order
        others = {frozenset(drawn()[-5:])}
        for seed in range(8, 12):
            await run(bridge, sample=5, seed=seed)
            others.add(frozenset(drawn()[-5:]))
        assert len(others) > 1
        assert (await run(bridge, sample=50)).lus == 12  # more than there are: all of them


async def test_all_reads_every_page(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(candidates, "PAGE", 2)
    async with delivery(database_url) as bridge:
        await delivered(bridge, *((f"PDL-{n}", "ENTRE") for n in range(7)))
        await behind_our_back(bridge, "PDL-6", {"date_entree": "2019-03-05"})
        report = await run(bridge)
        assert (report.lus, report.conformes) == (7, 6)
        assert [e.id_dossier for e in report.ecarts] == ["PDL-6"]
        assert (await run(bridge, sample=3, seed=1)).lus == 3


async def test_a_failing_agora_stops_the_run_and_hands_nothing_over(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await delivered(bridge, *((f"PDL-{n}", "ENTRE") for n in range(6)))
        await bridge.faults({"error_rate": 1.0, "seed": 1})
        report = await run(bridge, breaker=Breaker(threshold=2, pause_s=60))
        assert report.interrompu
        assert report.exit_status == 3
        assert (report.lus, report.ecarts) == (0, [])
        assert 2 <= sum(report.echecs.values()) < 6
        assert {(await bridge.item(f"PDL-{n}")).etat for n in range(6)} == {"A_JOUR"}


async def test_reads_keep_to_the_clients_rate_ceiling(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await delivered(bridge, *((f"PDL-{n}", "VALIDE") for n in range(30)))
        limited = AgoraClient(agora_settings(bridge.mock.url, max_rps=20))
        async with limited:
            started = time.monotonic()
            report = await reconcile(bridge.sessions, limited, CRYPTO, sample=None)
            elapsed = time.monotonic() - started
        assert report.conformes == 30
        # A burst of one second's worth (20, the token's call included), then 20 a second.
        assert elapsed >= (31 - 20) / 20 * 0.9


class Counting(httpx.AsyncBaseTransport):
    """Reads held 20 ms each on their way to the mock, the most at once counted."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.now = self.most = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            return await self.inner.handle_async_request(request)
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.02)
            return await self.inner.handle_async_request(request)
        finally:
            self.now -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_few_reads_are_in_flight_at_once(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await delivered(bridge, *((f"PDL-{n}", "VALIDE") for n in range(20)))
        counting = Counting()
        async with AgoraClient(agora_settings(bridge.mock.url), transport=counting) as client:
            report = await reconcile(bridge.sessions, client, CRYPTO, sample=None)
        assert report.conformes == 20
        assert counting.most == READS_IN_FLIGHT
