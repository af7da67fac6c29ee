"""What the monitoring routes report after a run like the demo's (ingest through the API,
the engine delivering to the mock): parseable Prometheus text, the status, the page, and no
NIR, name or birth date in any of them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, insert

from agora_bridge.api import create_app
from agora_bridge.cli.serve import delivery
from agora_bridge.delivery.breaker import Breaker
from agora_bridge.delivery.stats import DeliveryStats
from agora_bridge.ledger.chain import Entry
from agora_bridge.ledger.store import append
from agora_bridge.ops.metrics import CODES_LABELLED
from agora_bridge.ops.throughput import per_minute
from agora_bridge.settings import SyncSettings
from agora_bridge.storage.callers import Role
from agora_bridge.storage.executor import on_session
from agora_bridge.storage.models import EtatAgora, Livraison, Orientation
from mocks.server import running_mock
from tests.api.builders import bearer, bridge, json_array, key_for, running, sessions_of, settings
from tests.api.ouiform_builders import callers, creation
from tests.api.test_ouiform_entries import ENTRY, declared_at, entered, ingest
from tests.builders import ABSENT, NIR, snapshot_dict

NAME, FIRST_NAME, BIRTH = "Zorglub", "Ermengarde", "1985-05-12"
PERSONAL = (NIR, NIR[:13], NAME, FIRST_NAME, BIRTH)
JSON = {"Content-Type": "application/json"}
REFUSAL = f"Stagiaire {NAME} {FIRST_NAME} inconnu"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, by name and labels (parsing it checks it)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _delivered(mock_url: str, expected: dict[str, str]) -> None:
    async with asyncio.timeout(20), httpx.AsyncClient() as client:
        while True:
            lines = (await client.get(f"{mock_url}/__mock__/dossiers")).text.splitlines()
            held = {d["reference_financeur"]: d["statut"] for d in map(json.loads, lines)}
            if held == expected:
                return
            await asyncio.sleep(0.05)


async def _once_recorded(client: httpx.AsyncClient) -> httpx.Response:
    """/metrics once the bridge recorded what AGORA acknowledged (after the mock holds it)."""
    async with asyncio.timeout(20):
        while True:
            metrics = await client.get("/metrics")
            if _samples(metrics.text)[("agora_bridge_queue_depth", ())] == 0:
                return metrics
            await asyncio.sleep(0.05)


async def test_after_a_demo_like_run_the_monitoring_reports_it_without_personal_data(
    migrated_url: str,
) -> None:
    person = {"stagiaire.nom_naissance": NAME, "stagiaire.prenom": FIRST_NAME}
    items = [
        snapshot_dict("ENTRE", id_dossier="PDL-1", **person),
        snapshot_dict("VALIDE", id_dossier="PDL-2", **person),
        snapshot_dict("VALIDE", id_dossier="PDL-3", **{"stagiaire.nir": ABSENT}),  # held
    ]
    async with running_mock() as mock:
        config = settings(migrated_url, agora_url=f"{mock.url}/agora/v2")
        config.sync = SyncSettings(interval_s=3600)
        app = create_app(config, background=[delivery])
        async with running(app) as client:
            region = bearer(await key_for(sessions_of(app), Role.REGION_SI))
            ops = bearer(await key_for(sessions_of(app), Role.OPS))
            ingest = await client.post(
                "/region/v1/dossiers", content=json_array(items), headers=JSON | region
            )
            assert ingest.status_code == 202, ingest.text
            await _delivered(mock.url, {"PDL-1": "ENTRE", "PDL-2": "VALIDE"})
            await client.get("/region/v1/dossiers/PDL-1", headers=region)
            metrics = await _once_recorded(client)
            status = await client.get("/ops/status", headers=ops)
            page = await client.get("/ops", headers=ops)
    assert metrics.status_code == status.status_code == page.status_code == 200
    _check_metrics(metrics.text)
    _check_status(status.json())
    for response in (metrics, status, page):
        for value in PERSONAL:
            assert value not in response.text


def _check_metrics(text: str) -> None:
    samples = _samples(text)
    successes = {
        labels: value
        for (name, labels), value in samples.items()
        if name == "agora_bridge_agora_operations_total" and ("outcome", "SUCCES") in labels
    }
    assert sum(successes.values()) >= 2
    assert samples[("agora_bridge_agora_attempt_duration_seconds_count", ())] >= 2
    assert samples[("agora_bridge_queue_depth", ())] == 0
    assert samples[("agora_bridge_work_items", (("etat", "A_JOUR"),))] == 2
    assert samples[("agora_bridge_circuit_state", (("state", "closed"),))] == 1
    routes = {
        dict(labels)["route"]
        for (name, labels), _ in samples.items()
        if name == "agora_bridge_http_requests_total"
    }
    # Route templates, never a dossier's key.
    assert "/region/v1/dossiers/{id_dossier:path}" in routes
    assert "/region/v1/dossiers" in routes
    assert "PDL-1" not in text


def _check_status(status: dict[str, Any]) -> None:
    assert status["file"]["par_etat"]["A_JOUR"] == 2
    assert status["circuit"]["etat"] == "closed"
    assert status["derniere_reussite_agora"] is not None
    assert status["registre"]["hash"]
    assert sum(m["agora_reussites"] for m in status["debit"]) >= 2
    assert sum(m["recus"] for m in status["debit"]) == 3


async def test_the_status_names_parked_dossiers_by_code_and_the_pending_operations(
    migrated_url: str,
) -> None:
    now = datetime.now(UTC)
    async with bridge(settings(migrated_url)) as (app, client):
        async with sessions_of(app)() as session, session.begin():
            await session.execute(insert(Livraison), _items(now))
            await session.execute(
                insert(EtatAgora).values(
                    id_dossier="PDL-UPD",
                    id_agora="AG-1",
                    acquitte={},
                    titulaire_index="x",
                    acquitte_at=now - timedelta(minutes=5),
                )
            )
        ops = bearer(await key_for(sessions_of(app), Role.OPS))
        answers = [await client.get(path, headers=ops) for path in ("/ops/status", "/ops")]
        answers.append(await client.get("/metrics"))
    # AGORA's refusal message is free text about a person: codes and keys only, anywhere.
    for answer in answers:
        assert REFUSAL not in answer.text
    status, metrics = answers[0].json(), _samples(answers[2].text)
    assert status["parques"] == {
        "ORGANISME_INCONNU": {"nombre": 2, "exemples": ["PDL-P2", "PDL-P1"]},
        "SESSION_CLOSE": {"nombre": 1, "exemples": ["PDL-P3"]},
    }
    assert status["parques_total"] == 3
    assert status["file"]["a_faire_par_operation"] == {"Creer": 1, "Modifier": 1}
    assert status["file"]["plus_ancienne_attente_s"] >= 3600
    assert status["retenus"]["livraisons"] == {"NIR_ABSENT": 1}
    assert status["derniere_reussite_agora"] is not None
    assert metrics[("agora_bridge_parked_operations", ())] == 3
    assert metrics[("agora_bridge_parked_operations_by_code", (("code", "SESSION_CLOSE"),))] == 1
    assert metrics[("agora_bridge_queue_oldest_pending_age_seconds", ())] >= 3600
    assert metrics[("agora_bridge_held_work_items", (("motif", "NIR_ABSENT"),))] == 1


def _items(now: datetime) -> list[dict[str, Any]]:
    def item(key: str, etat: str, **columns: Any) -> dict[str, Any]:
        return {
            "id_dossier": key,
            "etat": etat,
            "generation": 1,
            "due_at": now,
            "opened_at": now,
        } | columns

    parked = {"etat": "PARQUE", "message": REFUSAL}
    return [
        item("PDL-P1", **parked, code="ORGANISME_INCONNU", parked_at=now - timedelta(hours=2)),
        item("PDL-P2", **parked, code="ORGANISME_INCONNU", parked_at=now - timedelta(hours=1)),
        item("PDL-P3", **parked, code="SESSION_CLOSE", parked_at=now),
        item("PDL-NEW", "A_FAIRE", opened_at=now - timedelta(hours=2)),
        item("PDL-UPD", "A_FAIRE"),
        item("PDL-H", "RETENU", motif_retenue="NIR_ABSENT"),
    ]


async def test_throughput_counts_the_ledger_s_entries_by_minute(migrated_url: str) -> None:
    start = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    at = [start + timedelta(seconds=s) for s in (5, 30, 65, 70, 75, 200)]
    entries = [
        Entry(recorded_at=at[0], kind="snapshot.decision", id_dossier="PDL-1"),
        Entry(
            recorded_at=at[1],
            kind="agora.outcome",
            operation="Creer",
            http_status=201,
            code="SUCCES",
        ),
        Entry(
            recorded_at=at[2],
            kind="agora.outcome",
            operation="Entrer",
            http_status=503,
            code="TRANSITOIRE",
        ),
        Entry(recorded_at=at[3], kind="agora.outcome", operation="Entrer", code="AMBIGU"),
        Entry(recorded_at=at[4], kind="lot.outcome", operation="DEPOSE", http_status=202),
        Entry(recorded_at=at[5], kind="lot.outcome", operation="TRAITE"),
    ]
    async with bridge(settings(migrated_url)) as (app, _):
        async with sessions_of(app)() as session, session.begin():
            await append(on_session(session), entries)
        async with sessions_of(app)() as session:
            series = await per_minute(session, since=start, until=start + timedelta(minutes=4))
    counts = [json.loads(m.model_dump_json(exclude={"minute"})) for m in series]
    assert [m.minute for m in series] == [start + timedelta(minutes=i) for i in range(5)]
    assert counts == [
        {"recus": 1, "agora_reussites": 1, "agora_echecs": 0, "lots_reprise": 0},
        {"recus": 0, "agora_reussites": 0, "agora_echecs": 2, "lots_reprise": 0},
        {"recus": 0, "agora_reussites": 0, "agora_echecs": 0, "lots_reprise": 0},
        {"recus": 0, "agora_reussites": 0, "agora_echecs": 0, "lots_reprise": 1},
        {"recus": 0, "agora_reussites": 0, "agora_echecs": 0, "lots_reprise": 0},
    ]


async def test_agora_codes_label_a_bounded_set_of_series(migrated_sqlite: str) -> None:
    """AGORA chooses its codes: however many it invents, /metrics holds a bounded number of
    series, the others summed under AUTRE (and nothing lost from the totals)."""
    now = datetime.now(UTC)
    codes = [f"CODE_{n:03}" for n in range(3 * CODES_LABELLED)]
    parked = [
        {"id_dossier": f"PDL-{n}", "etat": "PARQUE", "generation": 1, "due_at": now}
        | {"opened_at": now, "parked_at": now, "code": code, "message": "refusé"}
        for n, code in enumerate(codes)
    ]
    stats = DeliveryStats()
    for code in ("SUCCES", *codes):
        stats.observe("Creer", code, 0.01)
    async with bridge(settings(migrated_sqlite)) as (app, client):
        async with sessions_of(app)() as session, session.begin():
            await session.execute(insert(Livraison), parked)
        app.state.bridge.delivery = SimpleNamespace(stats=stats, breaker=Breaker())
        first = _samples((await client.get("/metrics")).text)
        stats.observe("Creer", "CODE_NEW", 0.01)
        stats.observe("Creer", "SUCCES", 0.01)
        second = _samples((await client.get("/metrics")).text)
    by_code = _labelled(first, "agora_bridge_parked_operations_by_code", "code")
    assert len(by_code) == CODES_LABELLED + 1
    assert sum(by_code.values()) == len(codes)
    for samples, total in ((first, len(codes) + 1), (second, len(codes) + 3)):
        outcomes = _labelled(samples, "agora_bridge_agora_operations_total", "outcome")
        assert len(outcomes) == CODES_LABELLED + 2  # SUCCES, 40 codes, AUTRE
        assert sum(outcomes.values()) == total
    assert _labelled(second, "agora_bridge_agora_operations_total", "outcome")["SUCCES"] == 2


def _labelled(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, label: str
) -> dict[str, float]:
    return {dict(labels)[label]: value for (n, labels), value in samples.items() if n == name}


async def test_reading_the_status_writes_nothing(migrated_url: str) -> None:
    """The 3-day rule's matching pass applies to the report a status read shows, and
    records nothing: no INSERT, UPDATE or DELETE while the status is read."""
    async with bridge(settings(migrated_url)) as (app, client):
        keys = await callers(sessions_of(app))
        ops = bearer(await key_for(sessions_of(app), Role.OPS))
        on_time = await entered(client, keys, creation())
        await ingest(client, keys, snapshot_dict("ENTRE", date_entree=ENTRY))
        await declared_at(app, on_time, datetime(2019, 3, 7, 10, tzinfo=UTC))
        writes: list[str] = []

        def watch(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement.lstrip().split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
                writes.append(statement)

        engine = app.state.bridge.engine.sync_engine
        event.listen(engine, "before_cursor_execute", watch)
        try:
            status = await client.get("/ops/status", headers=ops)
        finally:
            event.remove(engine, "before_cursor_execute", watch)
        async with sessions_of(app)() as session:
            row = await session.get_one(Orientation, on_time)
    assert status.status_code == 200, status.text
    # Matched to the Région's dossier (entered the 4th, declared the 7th): neither late nor
    # missing, though the match is recorded nowhere.
    assert set(status.json()["retards_entree"]["comptes"].values()) == {0}
    assert writes == []
    assert row.dossier_apparie is None
