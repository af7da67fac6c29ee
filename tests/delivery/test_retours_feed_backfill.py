"""The return flow followed through `GET /region/v1/retours` while a backfill and a faulty sync
run at once, on SQLite and PostgreSQL (there with two engines and concurrent ingests).

The backfill's file has every kind of case (`tests/backfill/cases.py`), lines AGORA rejects
(a date in its future) and lines AGORA already has (duplicates); meanwhile the engines sync
deltas of other dossiers, and a newer snapshot of a dossier arrives while its lot is on AGORA.
The follower, reading small pages while all this is written, ends with exactly the table,
each event once and in order; each dossier on AGORA is reported created once, with its id,
then only later states; a rejection carries AGORA's code, a hold its reason; a dossier out of
the perimeter or an invalid line says nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from agora_bridge.agora.mapping import creation
from agora_bridge.api.retours import as_item
from agora_bridge.backfill.report import Report
from agora_bridge.decision.planner import plan, project
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.perimeter import SENDABLE, Classement, classify
from agora_bridge.storage.retours import decode_cursor, read_after
from agora_bridge.synthetic import CUTOFF
from tests.backfill.cases import every_case_file
from tests.backfill.harness import (
    PERIMETER,
    backfill,
    dossier,
    expected_on_agora,
    newest,
    write_lines,
)
from tests.delivery.checks import ingest_concurrently
from tests.delivery.feed import (
    STATE_EVENTS,
    assert_applied_steps_reported,
    following,
    sync_while,
)
from tests.delivery.harness import CODE_FINANCEUR, Bridge, delivery
from tests.delivery.histories import deliveries, history, personal_data
from tests.stored_text import assert_absent

# AGORA's clock three weeks behind the Région's: a validation date it calls the future.
AGORA_NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
GENERATED_UNTIL = date(2026, 10, 31)  # no generated date AGORA would call the future
FILE_DOSSIERS = 500
LOT_SIZE = 40
FUTURE = [f"PDL-FUTUR-{n}" for n in range(3)]  # AGORA rejects their line: DATE_FUTURE
DUPLICATES = [f"PDL-DOUBLE-{n}" for n in range(3)]  # AGORA has them already: DOUBLON
IN_FLIGHT = "PDL-VALIDE"  # its lot is held on AGORA while its newer snapshot is ingested
NEWER = ("PDL-SORTI", "SOLDE")  # ingested then too: in a lot, or already the engine's
SPECIAL_HOLDS = {
    "PDL-SANS-NIR": "NIR_ABSENT",
    "PDL-NIR-FAUX": "NIR_INVALIDE",
    "PDL-ANNULE-SORTI": "ANNULATION_APRES_SORTIE",
}
OTHERS = 40  # dossiers only the sync delivers, version by version
FAULTS = {
    "seed": 17,
    "error_rate": 0.12,
    "lost_response_rate": 0.06,
    "rate_limit_rate": 0.03,
    "retry_after_s": 0,
    "latency_ms": [0, 3],
}


def snap(step: str, key: str, **changes: Any) -> Snapshot:
    return Snapshot.model_validate(dossier(step, key, **changes))


def the_file(directory: Path) -> Path:
    path = every_case_file(directory, dossiers=FILE_DOSSIERS, today=GENERATED_UNTIL)
    future = [dossier("VALIDE", key, date_validation="2026-11-20") for key in FUTURE]
    return write_lines(path, [*future, *(dossier("SORTI", key) for key in DUPLICATES)])


def held_in(path: Path) -> dict[str, str]:
    """Each dossier held at ingest (its NIR) or by the planner, with the reason."""
    held = {}
    for key, s in newest(path).items():
        classification = classify(s, PERIMETER, since=CUTOFF)
        if classification.classement is Classement.RETENU:
            held[key] = classification.motif or ""
        elif classification == SENDABLE and plan(None, s).retenue is not None:
            held[key] = plan(None, s).retenue or ""
    return held


def of_the_file(path: Path) -> set[str]:
    """The file's NIRs, names and birth dates."""
    people = [s.stagiaire for s in newest(path).values()]
    values = {p.date_naissance.isoformat() for p in people}
    values |= {p.nir for p in people if p.nir} | {p.nom_naissance for p in people}
    return values | {p.prenom for p in people}


async def already_on_agora(bridge_: Bridge) -> None:
    """The duplicates, created on AGORA outside the bridge, with another first name."""
    for key in DUPLICATES:
        on_agora = project(snap("VALIDE", key, **{"stagiaire.prenom": "Paul"}))
        body = creation(on_agora.titulaire, on_agora.fige, code_financeur=CODE_FINANCEUR)
        await bridge_.client.creer(creation=body, idempotency_key=str(uuid.uuid4()))


async def backfill_alongside(bridge_: Bridge, path: Path, versions: list[Snapshot]) -> Report:
    """The backfill, while the other dossiers' versions are ingested and, once the lot
    holding IN_FLIGHT is on its way to AGORA, a newer snapshot of it."""
    release = bridge_.transport.hold(IN_FLIGHT)
    running = asyncio.create_task(backfill(bridge_, path, lot_size=LOT_SIZE))
    await ingest_concurrently(bridge_, versions)
    async with asyncio.timeout(30):
        while not any(IN_FLIGHT.encode() in r.content for r in bridge_.transport.sent):
            assert not running.done(), running.result()
            await asyncio.sleep(0.01)
    await bridge_.ingest(snap("ENTRE", IN_FLIGHT, version=2), snap(NEWER[1], NEWER[0], version=2))
    release.set()
    return await running


async def test_the_feed_reports_every_outcome_once_while_a_backfill_and_a_faulty_sync_run(
    database_url: str, tmp_path: Path
) -> None:
    path = the_file(tmp_path)
    from_file = expected_on_agora(path).keys() - set(FUTURE)
    held = held_in(path)
    assert SPECIAL_HOLDS.items() <= held.items()
    rng = random.Random(31)
    others = [history(rng, n) for n in range(OTHERS)]
    engines = 2 if make_url(database_url).get_backend_name() == "postgresql" else 1
    async with delivery(database_url, mock_options={"clock": lambda: AGORA_NOW}) as bridge_:
        async with following(database_url) as follower:
            await already_on_agora(bridge_)
            await bridge_.faults(FAULTS)
            versions = deliveries(rng, others, stale=30)
            await sync_while(bridge_, engines, backfill_alongside(bridge_, path, versions))
            await bridge_.faults({})
            faults = await bridge_.stats()
        agora = await bridge_.on_agora()
        async with bridge_.sessions() as session:
            stored = await read_after(session, 0, 10**6)
        table = [as_item(s).model_dump(mode="json") for s in stored]
    events = follower.items
    positions = [decode_cursor(e["cursor"]) for e in events]
    assert all(a < b for a, b in itertools.pairwise(positions))  # none repeated
    assert events == table  # nothing skipped

    by_dossier: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_dossier[event["id_dossier"]].append(event)
    assert agora.keys() == from_file | {h.id_dossier for h in others}
    for h in others:
        assert_applied_steps_reported(by_dossier.pop(h.id_dossier), agora[h.id_dossier], None)
    for key in sorted(from_file):
        assert_created_once_then_later_states(by_dossier.pop(key), agora[key])
    for key in FUTURE:
        (rejection,) = by_dossier.pop(key)
        assert (rejection["evenement"], rejection["code"]) == ("REJETE", "DATE_FUTURE")
        assert rejection["message"]
    for key, reason in held.items():
        assert [(e["evenement"], e["code"]) for e in by_dossier.pop(key)] == [("RETENU", reason)]
    assert by_dossier == {}  # excluded dossiers and invalid lines: nothing

    created = [e for e in events if e["evenement"] == "ID_AGORA_ATTRIBUE"]
    codes = {e["id_dossier"]: e["code"] for e in created}
    assert {codes[key] for key in DUPLICATES} <= {"LIE"}  # linked by the engine
    assert list(codes.values()).count("LOT") > FILE_DOSSIERS // 2  # most through the lots
    assert codes[IN_FLIGHT] == "LOT"
    assert [e["statut"] for e in events if e["id_dossier"] == IN_FLIGHT] == ["VALIDE", "ENTRE"]
    assert agora[NEWER[0]]["statut"] == NEWER[1]
    lines = faults["lignes_lot"]
    assert (lines["REJETE"], lines["DOUBLON"]) == (len(FUTURE), len(DUPLICATES))
    failed = {k: n for k, n in faults["requetes"].items() if k.split()[-1] not in ("200", "202")}
    assert sum(failed.values()) > 30
    assert any("/lots" in route for route in failed)  # the backfill met faults too
    assert_absent(str(events).encode(), personal_data(others) | of_the_file(path))


def assert_created_once_then_later_states(
    events: list[dict[str, Any]], on_agora: dict[str, Any]
) -> None:
    """A file's dossier: created once (by its lot, or by the engine), with AGORA's id, then only
    newer states, the last one AGORA's; no rejection, no hold."""
    assert [e["evenement"] for e in events if e["evenement"] not in STATE_EVENTS] == []
    assert [e["evenement"] for e in events][:1] == ["ID_AGORA_ATTRIBUE"], events
    assert [e["evenement"] for e in events].count("ID_AGORA_ATTRIBUE") == 1
    assert {e["id_agora"] for e in events} == {on_agora["id_agora"]}
    versions = [e["version"] for e in events]
    assert versions == sorted(versions)
    if events[0]["code"] == "LOT":  # the lot sent its snapshot's final state: only newer ones
        assert all(version > versions[0] for version in versions[1:]), events
    assert events[-1]["statut"] == on_agora["statut"], (on_agora["reference_financeur"], events)
