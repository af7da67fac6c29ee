"""The return flow followed through `GET /region/v1/retours` while a faulty sync runs, on SQLite
and PostgreSQL (there with two engines and concurrent ingests writing at once).

Every outcome of every dossier appears exactly once, in order per dossier: each step AGORA
applied (its `historique`) is one ID_AGORA_ATTRIBUE or ETAT_ACQUITTE with AGORA's statut, a
refused creation one REJETE with AGORA's code and message, a snapshot held for its NIR one
RETENU at ingest then one REPRIS when its correction goes out, a dossier the engine holds one
RETENU with the reason; the follower, reading small pages while all this is written, ends
with exactly the table, each event once.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from sqlalchemy.engine import make_url

from agora_bridge.snapshots.model import Snapshot
from tests.builders import snapshot
from tests.delivery.checks import ingest_concurrently
from tests.delivery.faulty import SIRET_REFUSED
from tests.delivery.feed import assert_applied_steps_reported, following, sync_while
from tests.delivery.harness import delivery
from tests.delivery.histories import History, deliveries, history, personal_data
from tests.storage.builders import nir
from tests.stored_text import assert_absent

DOSSIERS = 50
REFUSED = 4  # AGORA refuses their creation: one REJETE each
HELD = 4  # version 1 without a NIR (RETENU at ingest), version 2 corrected (REPRIS)
FAULTS = {
    "seed": 13,
    "error_rate": 0.15,
    "lost_response_rate": 0.08,
    "rate_limit_rate": 0.03,
    "retry_after_s": 0,
    "latency_ms": [0, 3],
}


def held_first(order: int) -> Snapshot:
    return snapshot("VALIDE", id_dossier=f"HELD-{order}", version=1, **{"stagiaire.nir": None})


def held_corrected(order: int) -> Snapshot:
    fields = {"stagiaire.nir": nir(900 + order)}
    return snapshot("VALIDE", id_dossier=f"HELD-{order}", version=2, **fields)


def backwards(h: History) -> Snapshot:
    """A step undone (AGORA has it entered at least): the engine holds RETOUR_ARRIERE."""
    newest = h.newest
    return snapshot(
        "VALIDE",
        id_dossier=h.id_dossier,
        version=newest.version + 1,
        **{"stagiaire.nir": newest.stagiaire.nir},
    )


def excluded(h: History) -> Snapshot:
    """Now out of the perimeter, though AGORA knows it: held with the classification's reason."""
    newest = h.newest.model_dump(mode="json")
    newest["version"] += 1
    newest["programme"]["interface_agora"] = False
    return Snapshot.model_validate(newest)


def renamed(h: History) -> Snapshot:
    """The trainee's first name corrected: AGORA rectifies its titulaire (one PATCH)."""
    newest = h.newest.model_dump(mode="json")
    newest["version"] += 1
    newest["stagiaire"]["prenom"] = "Corrigé"
    return Snapshot.model_validate(newest)


async def test_the_feed_reports_every_outcome_once_in_order_while_a_faulty_sync_runs(
    database_url: str,
) -> None:
    rng = random.Random(29)
    histories = [history(rng, n, refused=n < REFUSED) for n in range(DOSSIERS)]
    sendable = [h for h in histories if not h.refused]
    refused = [h.newest for h in histories if h.refused]
    engines = 2 if make_url(database_url).get_backend_name() == "postgresql" else 1
    async with delivery(database_url) as bridge_, following(database_url) as follower:
        for snapshot_ in refused:
            reference = f'"reference_financeur":"{snapshot_.id_dossier}"'
            bridge_.transport.refuse(
                "POST",
                r"/dossiers$",
                status=422,
                body=SIRET_REFUSED,
                times=100,
                containing=reference,
            )
        await bridge_.ingest(*(held_first(n) for n in range(HELD)))
        await bridge_.faults(FAULTS)
        versions = deliveries(rng, sendable, stale=100)
        await sync_while(bridge_, engines, ingest_concurrently(bridge_, versions, refused))

        entered = [h for h in sendable if h.newest.statut.value in ("ENTRE", "SORTI")][:3]
        leaving = [h for h in sendable if h not in entered][:3]
        open_ = ("VALIDE", "ENTRE", "SORTI")
        rest = [h for h in sendable if h not in entered + leaving]
        corrected = [h for h in rest if h.newest.statut.value in open_][:5]
        later = [
            *(held_corrected(n) for n in range(HELD)),
            *map(backwards, entered),
            *map(excluded, leaving),
            *map(renamed, corrected),
        ]
        await sync_while(bridge_, engines, bridge_.ingest(*later))
        await bridge_.faults({})
        agora = await bridge_.on_agora()
        faults = await bridge_.stats()
    events = follower.items
    assert len({e["cursor"] for e in events}) == len(events)  # none repeated
    by_dossier: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_dossier[event["id_dossier"]].append(event)

    for h in sendable:
        held_why = (
            "RETOUR_ARRIERE" if h in entered else "INTERFACE_AGORA_NON" if h in leaving else None
        )
        assert_applied_steps_reported(by_dossier.pop(h.id_dossier), agora[h.id_dossier], held_why)
    for snapshot_ in refused:
        (rejection,) = by_dossier.pop(snapshot_.id_dossier)
        assert (rejection["evenement"], rejection["code"]) == ("REJETE", "SIRET_INVALIDE")
        assert rejection["message"]
    for n in range(HELD):
        reported = by_dossier.pop(f"HELD-{n}")
        assert [(e["evenement"], e["version"], e["code"]) for e in reported] == [
            ("RETENU", 1, "NIR_ABSENT"),
            ("REPRIS", 2, "NIR_ABSENT"),
            ("ID_AGORA_ATTRIBUE", 2, "Creer"),
        ] or [(e["evenement"], e["code"]) for e in reported] == [
            ("RETENU", "NIR_ABSENT"),
            ("REPRIS", "NIR_ABSENT"),
            ("ID_AGORA_ATTRIBUE", "LIE"),  # its creation's answer was lost: found by a search
        ]
        assert reported[-1]["id_agora"] == agora[f"HELD-{n}"]["id_agora"]
    assert by_dossier == {}  # nothing about any other dossier
    assert sum(n for k, n in faults["requetes"].items() if k.split()[-1] != "200") > 50
    codes = {e["code"] for e in events}
    assert {"Rectifier", "Creer", "Entrer"} <= codes  # what the oracle above covered
    assert_absent(str(events).encode(), personal_data(histories) | {"Corrigé", "CORRIGE"})
