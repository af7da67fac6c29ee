"""Every transition from every state for every role, with its status and body; the motifs;
the error precedence 401 > 404 > 403 > 412 > 422 > 409; ETag and If-Match."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from agora_bridge.storage.callers import Role
from tests.api.builders import assert_problem, bearer, bridge, sessions_of, settings
from tests.api.ouiform_builders import BASE, BODIES, Callers, callers, create, move

# Written from ouiform.md, not from the code: the states each transition leaves from, the
# state it reaches with the builders' bodies, and the roles that may make it.
EN_COURS = {"PRESCRITE", "POSITIONNEE", "RETENUE"}
SOURCES = {
    "positionnement": {"PRESCRITE"},
    "decision": {"POSITIONNEE"},
    "entree": {"RETENUE"},
    "abandon": EN_COURS,
    "annulation": EN_COURS,
}
TARGET = {
    "positionnement": "POSITIONNEE",
    "decision": "RETENUE",
    "entree": "ENTREE",
    "abandon": "ABANDON",
    "annulation": "ANNULEE",
}
ROLES = {
    "positionnement": {Role.ORGANISME},
    "decision": {Role.ORGANISME},
    "entree": {Role.ORGANISME},
    "abandon": {Role.ORGANISME, Role.PRESCRIPTEUR},
    "annulation": {Role.PRESCRIPTEUR},
}
# How to bring a new orientation to each state: (role, step, body changes).
PATHS: dict[str, list[tuple[Role, str, dict[str, Any]]]] = {
    "PRESCRITE": [],
    "POSITIONNEE": [(Role.ORGANISME, "positionnement", {})],
    "RETENUE": [(Role.ORGANISME, "positionnement", {}), (Role.ORGANISME, "decision", {})],
    "NON_RETENUE": [
        (Role.ORGANISME, "positionnement", {}),
        (Role.ORGANISME, "decision", {"resultat": "NON_RETENUE", "motif": "SESSION_COMPLETE"}),
    ],
    "ABSENTE_IC": [
        (Role.ORGANISME, "positionnement", {}),
        (Role.ORGANISME, "decision", {"resultat": "ABSENTE_IC"}),
    ],
    "ENTREE": [
        (Role.ORGANISME, "positionnement", {}),
        (Role.ORGANISME, "decision", {}),
        (Role.ORGANISME, "entree", {}),
    ],
    "ABANDON": [(Role.PRESCRIPTEUR, "abandon", {})],
    "ANNULEE": [(Role.PRESCRIPTEUR, "annulation", {})],
}
FIELD = {
    "positionnement": ("date_information_collective", "2026-11-20"),
    "decision": ("decision", {"resultat": "RETENUE", "motif": None, "commentaire": None}),
    "entree": ("date_entree", "2026-11-23"),
    "abandon": (
        "abandon",
        {"date": "2026-11-20", "motif": "EMPLOI_TROUVE", "commentaire": None},
    ),
    "annulation": ("statut", "ANNULEE"),
}


@pytest.fixture
async def api(migrated_sqlite: str) -> AsyncIterator[tuple[httpx.AsyncClient, Callers]]:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        yield client, await callers(sessions_of(app))


async def in_state(client: httpx.AsyncClient, keys: Callers, state: str) -> dict[str, Any]:
    orientation = await create(client, keys.prescripteur)
    for role, step, body in PATHS[state]:
        response = await move(client, keys.of(role), orientation["id"], step, **body)
        assert response.status_code == 200, response.text
        orientation = response.json()
    assert orientation["statut"] == state
    return orientation


async def test_every_transition_from_every_state_for_every_role(
    api: tuple[httpx.AsyncClient, Callers],
) -> None:
    client, keys = api
    checked = 0
    for state in PATHS:
        standing = await in_state(client, keys, state)
        for step, roles in ROLES.items():
            for role in Role:
                allowed = role in roles and state in SOURCES[step]
                subject = await in_state(client, keys, state) if allowed else standing
                response = await move(client, keys.of(role), subject["id"], step)
                expect_outcome(response, subject, step, role, state)
                checked += 1
    assert checked == len(PATHS) * len(ROLES) * len(Role)


def expect_outcome(
    response: httpx.Response, before: dict[str, Any], step: str, role: Role, state: str
) -> None:
    where = f"{step} by {role} from {state}"
    if role not in ROLES[step]:
        assert_problem(response, 403, "ROLE_NON_AUTORISE")
        return
    if state not in SOURCES[step]:
        problem = assert_problem(response, 409, "TRANSITION_IMPOSSIBLE")
        assert problem["orientation"] == before, where  # the current orientation, unchanged
        return
    assert response.status_code == 200, (where, response.text)
    after = response.json()
    assert after["statut"] == TARGET[step], where
    assert after["version"] == before["version"] + 1
    assert response.headers["etag"] == f'"{after["version"]}"'
    assert after["historique"][:-1] == before["historique"]
    assert after["historique"][-1]["statut"] == TARGET[step]
    assert after["historique"][-1]["par"] == role.value
    name, value = FIELD[step]
    assert after[name] == value, where
    unchanged = {"id", "candidat", "prescripteur", "organisme", "session", "cree_le"}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}


@pytest.mark.parametrize(
    ("body", "resultat"),
    [
        ({"resultat": "NON_RETENUE", "motif": "PREREQUIS_NON_ATTEINTS"}, "NON_RETENUE"),
        ({"resultat": "NON_RETENUE", "motif": "AUTRE", "commentaire": "Projet à revoir"}, None),
        ({"resultat": "ABSENTE_IC"}, "ABSENTE_IC"),
    ],
)
async def test_every_decision_reaches_its_state(
    api: tuple[httpx.AsyncClient, Callers], body: dict[str, Any], resultat: str | None
) -> None:
    client, keys = api
    orientation = await in_state(client, keys, "POSITIONNEE")
    response = await move(client, keys.of_a, orientation["id"], "decision", **body)
    assert response.status_code == 200, response.text
    assert response.json()["statut"] == (resultat or body["resultat"])
    assert response.json()["decision"] == {"motif": None, "commentaire": None, **body}


@pytest.mark.parametrize(
    ("step", "body", "erreurs"),
    [
        ("decision", {"resultat": "NON_RETENUE"}, [("motif", "MOTIF_REQUIS")]),
        (
            "decision",
            {"resultat": "NON_RETENUE", "motif": "AUTRE"},
            [("commentaire", "COMMENTAIRE_REQUIS")],
        ),
        ("decision", {"resultat": "RETENUE", "motif": "AUTRE"}, [("motif", "MOTIF_INTERDIT")]),
        ("decision", {"resultat": "PEUT_ETRE"}, [("resultat", "LITERAL_ERROR")]),
        ("decision", {"resultat": "NON_RETENUE", "motif": "FLEMME"}, [("motif", "ENUM")]),
        ("entree", {"date_entree": "2999-01-01"}, [("date_entree", "DATE_FUTURE")]),
        ("entree", {"date_entree": "01/02/2026"}, [("date_entree", "DATE_INVALIDE")]),
        ("abandon", {"date": "2999-01-01"}, [("date", "DATE_FUTURE")]),
        ("abandon", {"motif": "AUTRE"}, [("commentaire", "COMMENTAIRE_REQUIS")]),
        ("abandon", {"motif": "LASSITUDE"}, [("motif", "ENUM")]),
        ("positionnement", {"date_information_collective": None}, None),
    ],
)
async def test_broken_rules_are_422_naming_each_field(
    api: tuple[httpx.AsyncClient, Callers],
    step: str,
    body: dict[str, Any],
    erreurs: list[tuple[str, str]] | None,
) -> None:
    client, keys = api
    state = {"positionnement": "PRESCRITE", "decision": "POSITIONNEE", "entree": "RETENUE"}
    orientation = await in_state(client, keys, state.get(step, "PRESCRITE"))
    response = await move(client, keys.of_a, orientation["id"], step, **body)
    problem = assert_problem(response, 422, "REQUETE_INVALIDE")
    if erreurs is not None:
        assert [(e["champ"], e["code"]) for e in problem["erreurs"]] == erreurs
    else:
        assert problem["erreurs"][0]["champ"] == "date_information_collective"
    unchanged = await client.get(f"{BASE}/{orientation['id']}", headers=bearer(keys.of_a))
    assert unchanged.json() == orientation


async def test_a_body_that_is_not_json_is_a_422(api: tuple[httpx.AsyncClient, Callers]) -> None:
    client, keys = api
    orientation = await in_state(client, keys, "PRESCRITE")
    response = await client.post(
        f"{BASE}/{orientation['id']}/positionnement", content=b"{", headers=bearer(keys.of_a)
    )
    assert assert_problem(response, 422)["erreurs"][0]["code"] == "JSON_INVALID"


async def test_get_answers_the_version_as_etag_and_if_match_guards_a_change(
    api: tuple[httpx.AsyncClient, Callers],
) -> None:
    client, keys = api
    orientation = await in_state(client, keys, "PRESCRITE")
    url = f"{BASE}/{orientation['id']}"
    read = await client.get(url, headers=bearer(keys.of_a))
    assert read.headers["etag"] == '"1"'
    assert read.json() == orientation
    stale = await client.post(
        f"{url}/positionnement",
        json=BODIES["positionnement"],
        headers={**bearer(keys.of_a), "If-Match": '"0"'},
    )
    assert_problem(stale, 412, "VERSION_PERIMEE")
    for tag in ('"1"', 'W/"1"', "*"):
        fresh = await client.post(
            f"{url}/abandon", json=BODIES["abandon"], headers={**bearer(keys.of_a), "If-Match": tag}
        )
        assert fresh.status_code in {200, 409}, fresh.text
        if fresh.status_code == 200:
            assert fresh.headers["etag"] == '"2"'
            break
    else:
        pytest.fail("If-Match with the current version was refused")


async def test_the_first_applicable_error_is_answered(
    api: tuple[httpx.AsyncClient, Callers],
) -> None:
    client, keys = api
    mine = await in_state(client, keys, "ENTREE")
    url = f"{BASE}/{mine['id']}/positionnement"
    bad_body = {"date_information_collective": "demain"}
    stale = {"If-Match": '"1"'}

    async def post(key: str | None, body: Any, **headers: str) -> httpx.Response:
        auth = bearer(key) if key else {}
        return await client.post(url, json=body, headers={**auth, **headers})

    # 401 before all: no key on someone else's orientation, a bad body, a stale version.
    assert_problem(await post(None, bad_body, **stale), 401)
    # 404 before 403: organisme B is not concerned; neither is the other prescriber.
    assert_problem(await post(keys.of_b, bad_body, **stale), 404)
    assert_problem(await post(keys.prescripteur_2, bad_body, **stale), 404)
    # 403 before 412: the prescriber who created it may not position it.
    assert_problem(await post(keys.prescripteur, bad_body, **stale), 403)
    # 412 before 422, 422 before 409 (ENTREE cannot be positioned).
    assert_problem(await post(keys.of_a, bad_body, **stale), 412)
    assert_problem(await post(keys.of_a, bad_body), 422)
    assert_problem(await post(keys.of_a, BODIES["positionnement"]), 409)
    unknown = await client.post(
        f"{BASE}/00000000-0000-0000-0000-000000000000/positionnement",
        json=bad_body,
        headers=bearer(keys.ops),
    )
    assert_problem(unknown, 404, "RESSOURCE_INCONNUE")
