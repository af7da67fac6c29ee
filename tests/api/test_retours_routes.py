"""`GET /region/v1/dossiers/{id_dossier}` and `GET /region/v1/retours`: a dossier in each
situation (sent, excluded, held at ingest, held by the engine, parked, pending) as the sync
engine left it against the mock; keys and roles; unknown dossiers and bad cursors as
problems; and no personal data in any answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agora_bridge.snapshots.nir import nir_for_agora
from agora_bridge.snapshots.normalise import agora_name
from agora_bridge.storage.callers import Role
from agora_bridge.storage.retours import encode_cursor
from tests.api.builders import assert_problem, bearer, bridge, key_for, sessions_of, settings
from tests.builders import snapshot
from tests.delivery.faulty import SIRET_REFUSED
from tests.delivery.harness import delivery
from tests.delivery.test_interleavings import CREATION
from tests.storage.builders import nir
from tests.stored_text import assert_absent

NIRS = {n: nir(n) for n in range(1, 8)}


def person(n: int) -> dict[str, Any]:
    return {"stagiaire.nir": NIRS[n], "stagiaire.nom_naissance": f"Martin{'e' * n}"}


def personal_values() -> set[str]:
    values = {"1985-05-12", "Jean", "JEAN"}
    for n, value in NIRS.items():
        name = f"Martin{'e' * n}"
        values |= {value, nir_for_agora(value), name, agora_name(name)}
    return values


async def situations(database_url: str) -> None:
    """Each dossier left in its situation by the engine against the mock."""
    async with delivery(database_url) as bridge_:
        bridge_.transport.refuse(
            "POST", CREATION, status=422, body=SIRET_REFUSED, containing='"PDL-PARQUE"'
        )
        await bridge_.ingest(
            snapshot("SORTI", id_dossier="PDL-ENVOYE", **person(1)),
            snapshot("ENTRE", id_dossier="PDL-ARRIERE", **person(2)),
            snapshot("VALIDE", id_dossier="PDL-PARQUE", **person(3)),
            snapshot(
                "VALIDE",
                id_dossier="PDL-EXCLU",
                **person(4),
                **{"programme.interface_agora": False},
            ),
            snapshot("VALIDE", id_dossier="PDL-SANS-NIR", **person(5) | {"stagiaire.nir": None}),
        )
        await bridge_.drain()
        await bridge_.ingest(
            snapshot("VALIDE", id_dossier="PDL-ARRIERE", version=2, **person(2)),
            snapshot("VALIDE", id_dossier="PDL-ATTENTE", **person(6)),
        )
        await bridge_.engine().run_once()  # holds PDL-ARRIERE, may send PDL-ATTENTE
        await bridge_.ingest(snapshot("ENTRE", id_dossier="PDL-ATTENTE", version=2, **person(6)))


@pytest.fixture
async def app_client(migrated_url: str) -> Any:
    await situations(migrated_url)
    async with bridge(settings(migrated_url)) as (app, client):
        key = await key_for(sessions_of(app), Role.REGION_SI)
        yield client, key


async def status_of(client: httpx.AsyncClient, key: str, id_dossier: str) -> dict[str, Any]:
    answer = await client.get(f"/region/v1/dossiers/{id_dossier}", headers=bearer(key))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_each_situation_says_what_the_bridge_knows(app_client: Any) -> None:
    client, key = app_client
    sent = await status_of(client, key, "PDL-ENVOYE")
    assert (sent["situation"], sent["classement"], sent["version"]) == ("A_JOUR", "ENVOYABLE", 1)
    assert sent["id_agora"].startswith("AG")
    assert sent["etat_agora"]["statut"] == "SORTI"
    assert sent["etat_agora"]["dossier"]["reference_financeur"] == "PDL-ENVOYE"
    assert "titulaire" not in sent["etat_agora"]["dossier"]
    work = sent["livraison"]
    assert (work["etat"], work["en_attente"], work["prochaine_tentative"]) == (
        "A_JOUR",
        False,
        None,
    )
    assert work["derniere_tentative"]["le"] is not None
    assert work["derniere_tentative"]["resultat"] == "SUCCES"

    parked = await status_of(client, key, "PDL-PARQUE")
    assert (parked["situation"], parked["id_agora"], parked["etat_agora"]) == ("PARQUE", None, None)
    assert parked["livraison"]["code"] == "SIRET_INVALIDE"
    assert "SIRET_INVALIDE" in parked["livraison"]["message"]
    assert parked["livraison"]["parque_le"] is not None
    assert parked["livraison"]["derniere_tentative"]["resultat"] == "Creer:PARQUE"

    excluded = await status_of(client, key, "PDL-EXCLU")
    assert (excluded["situation"], excluded["motif"]) == ("EXCLU", "INTERFACE_AGORA_NON")
    assert (excluded["id_agora"], excluded["livraison"]) == (None, None)

    held = await status_of(client, key, "PDL-SANS-NIR")
    assert (held["situation"], held["classement"], held["motif"]) == (
        "RETENU",
        "RETENU",
        "NIR_ABSENT",
    )
    assert held["livraison"]["etat"] == "RETENU"

    backwards = await status_of(client, key, "PDL-ARRIERE")
    assert (backwards["situation"], backwards["classement"], backwards["version"]) == (
        "RETENU",
        "ENVOYABLE",
        2,
    )
    assert backwards["livraison"]["motif_retenue"] == "RETOUR_ARRIERE"
    assert backwards["etat_agora"]["statut"] == "ENTRE"

    pending = await status_of(client, key, "PDL-ATTENTE")
    assert (pending["situation"], pending["version"]) == ("EN_ATTENTE", 2)
    assert pending["livraison"]["en_attente"] is True
    assert pending["livraison"]["en_attente_depuis"] is not None
    assert pending["livraison"]["prochaine_tentative"] is not None


async def test_the_feed_pages_with_its_cursor(app_client: Any) -> None:
    client, key = app_client
    whole = (await client.get("/region/v1/retours", headers=bearer(key))).json()
    events = whole["items"]
    assert whole["next_cursor"] == events[-1]["cursor"]
    assert {(e["id_dossier"], e["evenement"], e["code"]) for e in events} >= {
        ("PDL-SANS-NIR", "RETENU", "NIR_ABSENT"),
        ("PDL-PARQUE", "REJETE", "SIRET_INVALIDE"),
        ("PDL-ENVOYE", "ID_AGORA_ATTRIBUE", "Creer"),
        ("PDL-ENVOYE", "ETAT_ACQUITTE", "Sortir"),
        ("PDL-ARRIERE", "RETENU", "RETOUR_ARRIERE"),
    }
    assert set(events[0]) == {
        "cursor",
        "evenement",
        "id_dossier",
        "version",
        "id_agora",
        "statut",
        "code",
        "message",
        "le",
    }
    pages, cursor = [], ""
    while True:
        page = (
            await client.get(
                "/region/v1/retours", params={"cursor": cursor, "limit": 2}, headers=bearer(key)
            )
        ).json()
        if not page["items"]:
            assert page["next_cursor"] == cursor  # nothing new: ask again with the same one
            break
        assert len(page["items"]) <= 2
        pages += page["items"]
        cursor = page["next_cursor"]
    assert pages == events


async def test_neither_answer_holds_personal_data(app_client: Any) -> None:
    client, key = app_client
    answers = [(await client.get("/region/v1/retours", headers=bearer(key))).content]
    for id_dossier in (
        "PDL-ENVOYE",
        "PDL-PARQUE",
        "PDL-EXCLU",
        "PDL-SANS-NIR",
        "PDL-ARRIERE",
        "PDL-ATTENTE",
    ):
        answers.append(
            (await client.get(f"/region/v1/dossiers/{id_dossier}", headers=bearer(key))).content
        )
    everything = b"\n".join(answers)
    assert b"PDL-ENVOYE" in everything  # the search below looks at something real
    assert b"SIRET_INVALIDE" in everything
    assert_absent(everything, personal_values())


async def test_unknown_dossier_is_a_404_problem(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        key = await key_for(sessions_of(app), Role.REGION_SI)
        answer = await client.get("/region/v1/dossiers/PDL-INCONNU", headers=bearer(key))
        assert_problem(answer, 404, "DOSSIER_INCONNU")
        slashed = await client.get("/region/v1/dossiers/PDL/2019/1", headers=bearer(key))
        assert_problem(slashed, 404, "DOSSIER_INCONNU")  # ids may hold a slash


@pytest.mark.parametrize("path", ["/region/v1/dossiers/PDL-1", "/region/v1/retours"])
async def test_both_routes_want_a_region_si_key(migrated_sqlite: str, path: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        assert_problem(await client.get(path), 401, "CLE_API_INVALIDE")
        wrong = bearer("agb_nothing.nothing")
        assert_problem(await client.get(path, headers=wrong), 401, "CLE_API_INVALIDE")
        ops = await key_for(sessions_of(app), Role.OPS)
        assert_problem(await client.get(path, headers=bearer(ops)), 403, "ROLE_NON_AUTORISE")


@pytest.mark.parametrize(
    ("params", "champ"),
    [
        ({"cursor": "r1:5"}, "cursor"),
        ({"cursor": "42"}, "cursor"),
        ({"cursor": encode_cursor(5) + "x"}, "cursor"),
        ({"cursor": "A" * 65}, "query.cursor"),
        ({"limit": "0"}, "query.limit"),
        ({"limit": "1001"}, "query.limit"),
        ({"limit": "many"}, "query.limit"),
    ],
)
async def test_a_bad_cursor_or_limit_is_a_422_problem_naming_it(
    migrated_sqlite: str, params: dict[str, str], champ: str
) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        key = await key_for(sessions_of(app), Role.REGION_SI)
        answer = await client.get("/region/v1/retours", params=params, headers=bearer(key))
        body = assert_problem(answer, 422, "REQUETE_INVALIDE")
        assert [e["champ"] for e in body["erreurs"]] == [champ]


async def test_an_empty_feed_gives_a_cursor_to_come_back_with(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        key = await key_for(sessions_of(app), Role.REGION_SI)
        page = (await client.get("/region/v1/retours", headers=bearer(key))).json()
        assert page == {"items": [], "next_cursor": encode_cursor(0)}
