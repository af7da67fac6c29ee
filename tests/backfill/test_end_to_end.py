"""The backfill of a file with every kind of case into the bundled mock: AGORA ends with
exactly the expected dossiers in their final states, each created once; the report counts what
`validate` counts; every lot and line outcome is in the ledger; the engine then sends nothing
more for them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from agora_bridge.agora.mapping import from_wire
from agora_bridge.agora.schemas import Dossier, from_agora
from agora_bridge.backfill import audit, packing
from agora_bridge.ledger.store import read_chain
from agora_bridge.snapshots.preflight import preflight
from agora_bridge.storage.models import EtatAgora, Livraison
from agora_bridge.storage.retours import Evenement, read_after
from agora_bridge.synthetic import CUTOFF
from tests.backfill.cases import every_case_file
from tests.backfill.harness import (
    PERIMETER,
    assert_acknowledged_as_on_agora,
    backfill,
    expected_on_agora,
)
from tests.builders import TODAY
from tests.delivery.harness import delivery, historique


async def test_a_file_with_every_case_ends_on_agora_exactly_as_expected(
    database_url: str, tmp_path: Path
) -> None:
    path = every_case_file(tmp_path)
    expected = expected_on_agora(path)
    assert {"PDL-CORSE", "PDL-NIA", "PDL-ARRONDI", "PDL-ANNULE-ENTRE"} <= expected.keys()
    assert not {"PDL-2016", "PDL-VAE", "PDL-SANS-NIR", "PDL-ANNULE-SORTI"} & expected.keys()
    async with delivery(database_url) as bridge:
        report = await backfill(bridge, path, lot_size=150)
        agora = await bridge.on_agora()
        assert agora.keys() == expected.keys()
        for key, held in agora.items():
            assert from_wire(from_agora(Dossier, held)) == expected[key], key
            assert historique(held).count("CREATION") == 1
        await assert_acknowledged_as_on_agora(bridge, agora)
        assert agora["PDL-VERSIONS"]["statut"] == "SORTI"
        assert agora["PDL-EGALITE"]["statut"] == "ENTRE"
        assert agora["PDL-ARRONDI"]["solde"]["cout_pedagogique_cents"] == 1004628
        stats = await bridge.stats()
        assert stats["lignes_lot"] == {"ACCEPTE": len(expected), "REJETE": 0, "DOUBLON": 0}
        assert stats["lots"] == report.lots == -(-len(expected) // 150)

        with preflight(path, today=TODAY, since=CUTOFF, perimeter=PERIMETER) as checked:
            assert report.counts.lignes == checked.lignes
            assert report.counts.invalides == checked.invalides
            assert report.versions_anciennes == checked.doublons
            assert report.envoyables == checked.envoyables
            assert report.counts.exclus == checked.exclus
            assert report.counts.retenus == checked.retenus
        assert report.counts.retenus_au_lot == Counter({"ANNULATION_APRES_SORTIE": 1})
        assert (report.envoyes, report.acceptes, report.doublons) == (len(expected),) * 2 + (0,)
        assert report.termine
        assert report.failed

        async with bridge.sessions() as session:
            known = {e.id_dossier: e.id_agora for e in (await session.scalars(select(EtatAgora)))}
            items = {i.id_dossier: i for i in (await session.scalars(select(Livraison)))}
            entries = [link.entry async for link in read_chain(session)]
            events = [stored.event for stored in await read_after(session, 0, 100_000)]
            audited = {key: await audit.lines_of(session, key) for key in expected}
            tampered = await audit.tampered(session)
        assert known == {key: agora[key]["id_agora"] for key in expected}
        # The return flow: each created dossier's id and state once, in the lot's transaction.
        created = [e for e in events if e.evenement is Evenement.ID_AGORA_ATTRIBUE]
        assert Counter(e.id_dossier for e in created) == dict.fromkeys(expected, 1)
        assert all(e.code == "LOT" for e in created)
        assert {e.id_dossier: (e.id_agora, e.statut) for e in created} == {
            key: (agora[key]["id_agora"], agora[key]["statut"]) for key in expected
        }
        assert not any(e.evenement is Evenement.REJETE for e in events)
        assert all(items[key].etat == "A_JOUR" and items[key].lot_id is None for key in expected)
        # Each line's outcome is in its lot's row, anchored by one ledger entry a lot.
        assert all(len(lines) == 1 for lines in audited.values())
        assert {line.resultat for lines in audited.values() for line in lines} == {"ACCEPTE"}
        assert all(line.anchored for lines in audited.values() for line in lines)
        assert not tampered
        assert all(e.id_dossier is None for e in entries if e.kind.startswith("lot."))
        assert Counter(e.kind for e in entries)["lot.submitted"] == report.lots
        done = [e for e in entries if e.kind == "lot.outcome" and e.operation == "TRAITE"]
        assert len(done) == report.lots
        assert await bridge.ledger_intact()

        # The held ones are the engine's: it holds them and sends nothing.
        await bridge.drain()
        after = await bridge.stats()
        assert after["dossiers"] == len(expected)
        assert not any(route.startswith("POST /agora/v2/dossiers") for route in after["requetes"])
        async with bridge.sessions() as session:
            held_item = await session.get(Livraison, "PDL-ANNULE-SORTI")
        assert held_item is not None
        assert held_item.etat == "RETENU"


async def test_a_second_run_of_a_finished_backfill_sends_nothing(
    database_url: str, tmp_path: Path
) -> None:
    path = every_case_file(tmp_path, dossiers=200)
    async with delivery(database_url) as bridge:
        first = await backfill(bridge, path)
        second = await backfill(bridge, path)
        assert second.to_json() == first.to_json()
        assert (await bridge.stats())["lots"] == first.lots


async def test_lots_cut_at_agoras_byte_limit_leave_no_dossier_behind(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lot full by its bytes before its line count: the rest stays set aside and goes in
    the next lots (which start after the last dossier packed), each dossier once."""
    path = every_case_file(tmp_path, dossiers=200)
    expected = expected_on_agora(path)
    monkeypatch.setattr(packing, "MAX_BYTES", 7 * 1024)  # a few lines a lot
    async with delivery(database_url) as bridge:
        report = await backfill(bridge, path, lot_size=100)
        agora = await bridge.on_agora()
        assert agora.keys() == expected.keys()
        assert all(historique(held).count("CREATION") == 1 for held in agora.values())
        await assert_acknowledged_as_on_agora(bridge, agora)
        stats = await bridge.stats()
        assert stats["lignes_lot"] == {"ACCEPTE": len(expected), "REJETE": 0, "DOUBLON": 0}
        assert report.lots == stats["lots"] > len(expected) // 100 + 1
        assert report.termine


async def test_a_line_no_lot_can_hold_stops_the_backfill_rather_than_be_passed_over(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line over AGORA's byte limit by itself (unreachable with AGORA's 16 MiB: a line read
    is 1 MiB at most): the next lots' keyset must not start after the rows it did not pack,
    which would leave them set aside and never sent while the backfill says it is done."""
    path = every_case_file(tmp_path, dossiers=20)
    monkeypatch.setattr(packing, "MAX_BYTES", 64)  # below any line
    async with delivery(database_url) as bridge:
        with pytest.raises(ExceptionGroup) as raised:
            await backfill(bridge, path)
        assert raised.group_contains(packing.LineOverLotLimit)
        assert (await bridge.stats())["lots"] == 0
