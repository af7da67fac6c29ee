"""The list's filters, bounds and cursors; the feed's cursor and `modifie_depuis`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.builders import assert_problem, bearer, bridge, sessions_of, settings
from tests.api.ouiform_builders import BASE, callers, create, creation, moved

FEED = "/region/v1/orientations"


async def test_filters_and_pages(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        keys = await callers(sessions_of(app))
        other = creation()
        other["session"]["session_numero"] = "S-2"
        first = await create(client, keys.prescripteur)
        second = await create(client, keys.prescripteur, other)
        third = await create(client, keys.prescripteur)
        await moved(client, keys.of_a, first["id"], "positionnement")

        async def listed(**params: str | int) -> list[str]:
            response = await client.get(BASE, params=params, headers=bearer(keys.of_a))
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]]

        assert await listed() == [first["id"], third["id"], second["id"]]  # newest change first
        assert await listed(statut="POSITIONNEE") == [first["id"]]
        assert await listed(statut="PRESCRITE", session_numero="S-2") == [second["id"]]
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        assert await listed(modifie_depuis=future) == []
        past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        assert len(await listed(modifie_depuis=past)) == 3
        page = (await client.get(BASE, params={"limit": 2}, headers=bearer(keys.of_a))).json()
        assert [item["id"] for item in page["items"]] == [first["id"], third["id"]]
        rest = await listed(limit=2, cursor=page["next_cursor"])
        assert rest == [second["id"]]
        last = await client.get(
            BASE, params={"limit": 2, "cursor": page["next_cursor"]}, headers=bearer(keys.of_a)
        )
        assert last.json()["next_cursor"] is None
        for params in (
            {"limit": 0},
            {"limit": 501},
            {"statut": "PERDUE"},
            {"cursor": "pas-un-curseur"},
            {"cursor": "eyJoIjotMSwicCI6MX0"},  # {"h":-1,"p":1}
            {"modifie_depuis": "2026-01-01"},  # no time, no offset
        ):
            response = await client.get(BASE, params=params, headers=bearer(keys.of_a))
            problem = assert_problem(response, 422, "REQUETE_INVALIDE")
            assert problem["erreurs"][0]["champ"].startswith("query."), problem


async def test_the_feed_follows_from_its_cursor(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        keys = await callers(sessions_of(app))
        empty = (await client.get(FEED, headers=bearer(keys.region))).json()
        assert empty["items"] == []
        cursor = empty["next_cursor"]
        orientation = await create(client, keys.prescripteur)
        await moved(client, keys.of_a, orientation["id"], "positionnement")
        page = (
            await client.get(FEED, params={"cursor": cursor}, headers=bearer(keys.region))
        ).json()
        assert [(i["statut"], i["version"]) for i in page["items"]] == [
            ("PRESCRITE", 1),
            ("POSITIONNEE", 2),
        ]
        caught_up = await client.get(
            FEED, params={"cursor": page["next_cursor"]}, headers=bearer(keys.region)
        )
        assert caught_up.json() == {"items": [], "next_cursor": page["next_cursor"]}
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        later = await client.get(
            FEED, params={"modifie_depuis": future}, headers=bearer(keys.region)
        )
        assert later.json()["items"] == []
