"""Who sees what: an organisme its SIRET's orientations, a prescriber those it created, ops
and the Région all; anything else is the 404 of an id that does not exist."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from agora_bridge.storage.callers import revoke_key, split_key
from tests.api.builders import NOW, assert_problem, bearer, bridge, sessions_of, settings
from tests.api.ouiform_builders import (
    BASE,
    BODIES,
    SIRET_B,
    callers,
    create,
    creation,
)

UNKNOWN = "00000000-0000-0000-0000-000000000000"


def without_request_id(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    body.pop("request_id")
    return body


async def ids(client: httpx.AsyncClient, key: str) -> set[str]:
    response = await client.get(BASE, headers=bearer(key))
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def test_an_organisme_can_neither_list_read_change_nor_detect_anothers(
    migrated_url: str,
) -> None:
    async with bridge(settings(migrated_url)) as (app, client):
        keys = await callers(sessions_of(app))
        for_a = await create(client, keys.prescripteur)
        for_b = await create(client, keys.prescripteur, creation(SIRET_B))
        by_b = await create(client, keys.of_b, creation(SIRET_B))
        assert await ids(client, keys.of_a) == {for_a["id"]}
        assert await ids(client, keys.of_b) == {for_b["id"], by_b["id"]}
        missing = await client.get(f"{BASE}/{UNKNOWN}", headers=bearer(keys.of_a))
        assert_problem(missing, 404, "RESSOURCE_INCONNUE")
        for other in (for_b["id"], by_b["id"]):
            read = await client.get(f"{BASE}/{other}", headers=bearer(keys.of_a))
            assert without_request_id(read) == without_request_id(missing)
            for step, body in BODIES.items():
                moved = await client.post(
                    f"{BASE}/{other}/{step}", json=body, headers=bearer(keys.of_a)
                )
                assert_problem(moved, 404, "RESSOURCE_INCONNUE")
                assert "etag" not in moved.headers
        filtered = await client.get(
            BASE, params={"session_numero": "1330305"}, headers=bearer(keys.of_a)
        )
        assert {item["id"] for item in filtered.json()["items"]} == {for_a["id"]}
        after = await client.get(f"{BASE}/{for_b['id']}", headers=bearer(keys.of_b))
        assert after.json() == for_b  # untouched


async def test_a_prescriber_sees_only_the_orientations_it_created(migrated_url: str) -> None:
    async with bridge(settings(migrated_url)) as (app, client):
        keys = await callers(sessions_of(app))
        mine = await create(client, keys.prescripteur)
        theirs = await create(client, keys.prescripteur_2)
        direct = await create(client, keys.of_a)  # a candidate who came directly
        assert direct["prescripteur"] is None
        assert mine["prescripteur"] == {"code": "ML-44-NANTES", "type": "MISSION_LOCALE"}
        assert await ids(client, keys.prescripteur) == {mine["id"]}
        assert await ids(client, keys.prescripteur_2) == {theirs["id"]}
        for other in (theirs["id"], direct["id"]):
            read = await client.get(f"{BASE}/{other}", headers=bearer(keys.prescripteur))
            assert_problem(read, 404)
            cancel = await client.post(
                f"{BASE}/{other}/annulation", json={}, headers=bearer(keys.prescripteur)
            )
            assert_problem(cancel, 404)
        everything = {mine["id"], theirs["id"], direct["id"]}
        assert await ids(client, keys.ops) == everything
        assert await ids(client, keys.region) == everything
        assert await ids(client, keys.of_a) == everything  # all for organisme A's SIRET


async def test_a_revoked_key_is_refused_within_5_seconds(migrated_url: str) -> None:
    async with bridge(settings(migrated_url)) as (app, client):
        keys = await callers(sessions_of(app))
        assert await ids(client, keys.of_a) == set()  # the key is now in the replica's cache
        async with sessions_of(app)() as session, session.begin():
            await revoke_key(session, (split_key(keys.of_a) or ("", ""))[0], now=NOW)
        revoked_at = time.monotonic()
        while (response := await client.get(BASE, headers=bearer(keys.of_a))).status_code == 200:
            assert time.monotonic() - revoked_at < 5
            await asyncio.sleep(0.1)
        assert_problem(response, 401, "CLE_API_INVALIDE")
        assert time.monotonic() - revoked_at < 5


async def test_creation_is_for_organismes_and_prescribers_only(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        keys = await callers(sessions_of(app))
        for key in (keys.ops, keys.region):
            response = await client.post(
                BASE, json=creation(), headers={**bearer(key), "Idempotency-Key": "k"}
            )
            assert_problem(response, 403, "ROLE_NON_AUTORISE")
        feed = await client.get("/region/v1/orientations", headers=bearer(keys.ops))
        assert_problem(feed, 403, "ROLE_NON_AUTORISE")
        elsewhere = await client.post(
            BASE, json=creation(SIRET_B), headers={**bearer(keys.of_a), "Idempotency-Key": "k"}
        )
        problem = assert_problem(elsewhere, 422)
        assert problem["erreurs"] == [{"champ": "organisme.siret", "code": "SIRET_AUTRE_ORGANISME"}]


async def test_the_nir_is_only_in_the_region_feed(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        keys = await callers(sessions_of(app))
        created = await create(client, keys.prescripteur)
        assert "nir" not in created["candidat"]
        for key in (keys.of_a, keys.ops, keys.region):
            listed = (await client.get(BASE, headers=bearer(key))).json()["items"]
            assert all("nir" not in item["candidat"] for item in listed)
        feed = await client.get("/region/v1/orientations", headers=bearer(keys.region))
        assert feed.json()["items"][0]["candidat"]["nir"] == "185057800608491"
