"""Where the backfill hands over to the sync engine: a rejected line parked until a corrected
snapshot, a duplicate reconciled, a dossier AGORA already has, a newer snapshot arriving while
its lot is on AGORA. Whichever path handles a dossier, AGORA ends with its newest state, once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agora_bridge.agora.mapping import creation, from_wire
from agora_bridge.agora.schemas import Dossier, from_agora
from agora_bridge.decision.planner import project
from agora_bridge.delivery.claims import claim_due
from agora_bridge.delivery.engine import utc_now
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.storage.executor import on_session
from agora_bridge.storage.retours import Evenement, Event, read_after
from tests.backfill.harness import backfill, dossier, write_lines
from tests.delivery.checks import in_order
from tests.delivery.harness import CODE_FINANCEUR, Bridge, delivery, historique

# AGORA's clock three weeks behind the Région's: a validation date it calls the future.
AGORA_NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def snap(step: str, key: str, **changes: object) -> Snapshot:
    return Snapshot.model_validate(dossier(step, key, **changes))


async def assert_on_agora(bridge: Bridge, s: Snapshot, *, creations: int = 1) -> None:
    held = (await bridge.on_agora())[s.id_dossier]
    assert from_wire(from_agora(Dossier, held)) == project(s)
    assert in_order(historique(held))
    assert historique(held).count("CREATION") == creations


async def reported(bridge: Bridge, key: str) -> list[Event]:
    async with bridge.sessions() as session:
        return [s.event for s in await read_after(session, 0, 10_000) if s.event.id_dossier == key]


async def test_a_rejected_line_is_parked_then_delivered_by_the_engine_once_corrected(
    database_url: str, tmp_path: Path
) -> None:
    rejected = dossier("VALIDE", "PDL-FUTUR", date_validation="2026-11-20")
    path = write_lines(tmp_path / "f.jsonl", [rejected])
    async with delivery(database_url, mock_options={"clock": lambda: AGORA_NOW}) as bridge:
        report = await backfill(bridge, path)
        assert report.rejetes == {"DATE_FUTURE": 1}
        assert report.failed
        item = await bridge.item("PDL-FUTUR")
        assert (item.etat, item.code, item.lot_id) == ("PARQUE", "DATE_FUTURE", None)
        assert "DATE_FUTURE" in (item.message or "")
        await bridge.drain()
        assert "PDL-FUTUR" not in await bridge.on_agora()  # parked: the engine leaves it

        corrected = snap("VALIDE", "PDL-FUTUR", version=2, date_validation="2026-10-15")
        await bridge.ingest(corrected)
        await bridge.drain()
        await assert_on_agora(bridge, corrected)
        assert (await bridge.item("PDL-FUTUR")).etat == "A_JOUR"
        # The return flow: the lot's rejection with AGORA's code, then the engine's resumption.
        events = await reported(bridge, "PDL-FUTUR")
        assert [(e.evenement, e.code, e.version) for e in events[:3]] == [
            (Evenement.REJETE, "DATE_FUTURE", 1),
            (Evenement.REPRIS, "DATE_FUTURE", 2),
            (Evenement.ID_AGORA_ATTRIBUE, "Creer", 2),
        ]


async def test_a_duplicate_whose_agora_state_differs_ends_equal_to_the_snapshot(
    database_url: str, tmp_path: Path
) -> None:
    on_agora = project(snap("VALIDE", "PDL-DOUBLE", **{"stagiaire.prenom": "Paul"}))
    wanted = snap("SORTI", "PDL-DOUBLE")
    path = write_lines(tmp_path / "f.jsonl", [wanted.model_dump(mode="json")])
    async with delivery(database_url) as bridge:
        body = creation(on_agora.titulaire, on_agora.fige, code_financeur=CODE_FINANCEUR)
        await bridge.client.creer(creation=body, idempotency_key=str(uuid.uuid4()))
        report = await backfill(bridge, path)
        assert (report.doublons, report.acceptes) == (1, 0)
        item = await bridge.item("PDL-DOUBLE")
        assert (item.etat, item.verifier, item.lot_id) == ("A_FAIRE", True, None)
        await bridge.drain()
        await assert_on_agora(bridge, wanted)
        held = (await bridge.on_agora())["PDL-DOUBLE"]
        assert "RECTIFICATION" in historique(held)  # the holder AGORA had was put right


async def test_a_dossier_agora_already_has_stays_with_the_engine(
    database_url: str, tmp_path: Path
) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(snap("ENTRE", "PDL-SYNC"))
        await bridge.drain()
        newer = snap("SOLDE", "PDL-SYNC", version=2)
        path = write_lines(
            tmp_path / "f.jsonl",
            [newer.model_dump(mode="json"), dossier("VALIDE", "PDL-NEUF")],
        )
        report = await backfill(bridge, path)
        assert (report.counts.au_moteur, report.envoyes, report.acceptes) == (1, 1, 1)
        await bridge.drain()
        await assert_on_agora(bridge, newer)
        assert (await bridge.stats())["lignes_lot"]["ACCEPTE"] == 1


async def test_a_newer_snapshot_during_its_lot_waits_then_the_engine_sends_the_rest(
    database_url: str, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "f.jsonl", [dossier("ENTRE", "PDL-COUPURE")])
    async with delivery(database_url) as bridge:
        release = bridge.transport.hold("PDL-COUPURE")
        running = asyncio.create_task(backfill(bridge, path))
        async with asyncio.timeout(30):
            while not bridge.transport.requests("POST", "/lots$"):
                await asyncio.sleep(0.01)
        newer = snap("SOLDE", "PDL-COUPURE", version=2)
        await bridge.ingest(newer)
        assert await bridge.engine().run_once() == 0  # in a lot on AGORA: not the engine's
        release.set()
        report = await running
        assert report.acceptes == 1
        item = await bridge.item("PDL-COUPURE")
        assert (item.etat, item.lot_id) == ("A_FAIRE", None)  # the lot's state is not the newest
        await bridge.drain()
        await assert_on_agora(bridge, newer)
        assert (await bridge.stats())["requetes"].get("POST /agora/v2/dossiers 201") is None


async def test_a_dossier_the_engine_has_claimed_stays_with_the_engine(
    database_url: str, tmp_path: Path
) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(snap("VALIDE", "PDL-PRIS"))
        async with bridge.sessions() as session, session.begin():
            claims = await claim_due(
                on_session(session),
                owner="test",
                now=utc_now(),
                lease=timedelta(seconds=30),
                limit=1,
            )
        newer = snap("ENTRE", "PDL-PRIS", version=2)
        path = write_lines(tmp_path / "f.jsonl", [newer.model_dump(mode="json")])
        report = await backfill(bridge, path)
        assert (report.counts.au_moteur, report.lots) == (1, 0)
        await bridge.engine().work_on(claims)  # the claim's pass plans from the newest snapshot
        await assert_on_agora(bridge, newer)
