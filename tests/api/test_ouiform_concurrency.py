"""On PostgreSQL, requests at once: 50 transitions on one orientation leave one consistent
history; 20 creations with one key create one; a client following the Région feed while
orientations change sees every change exactly once; a listing paged while orientations change
neither skips nor repeats one."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from agora_bridge.storage.models import Orientation, OrientationChangement
from tests.api.builders import bearer, bridge, sessions_of, settings
from tests.api.conftest import migrate
from tests.api.ouiform_builders import BASE, Callers, callers, create, creation, move
from tests.conftest import throwaway_pg_database

FEED = "/region/v1/orientations"
# What may follow each state in ouiform.md, for checking a history.
NEXT = {
    "PRESCRITE": {"POSITIONNEE", "ABANDON", "ANNULEE"},
    "POSITIONNEE": {"RETENUE", "NON_RETENUE", "ABSENTE_IC", "ABANDON", "ANNULEE"},
    "RETENUE": {"ENTREE", "ABANDON", "ANNULEE"},
}


@pytest.fixture
async def pg() -> AsyncIterator[tuple[Any, httpx.AsyncClient, Callers]]:
    async with throwaway_pg_database() as url:
        await migrate(url)
        async with bridge(settings(url)) as (app, client):
            yield app, client, await callers(sessions_of(app))


async def changes_of(app: Any, orientation_id: str | None = None) -> list[tuple[str, int, int]]:
    """(orientation, version, number) of every change stored, in number order."""
    statement = select(
        OrientationChangement.orientation_id,
        OrientationChangement.version,
        OrientationChangement.seq,
    ).order_by(OrientationChangement.seq)
    if orientation_id is not None:
        statement = statement.where(OrientationChangement.orientation_id == orientation_id)
    async with sessions_of(app)() as session:
        return [tuple(row) for row in await session.execute(statement)]  # type: ignore[misc]


def assert_consistent(history: list[dict[str, Any]]) -> None:
    assert history[0]["statut"] == "PRESCRITE"
    for before, after in itertools.pairwise(history):
        assert after["statut"] in NEXT.get(before["statut"], set()), (before, after)


async def test_50_transitions_at_once_leave_one_consistent_history(
    pg: tuple[Any, httpx.AsyncClient, Callers],
) -> None:
    app, client, keys = pg
    orientation = await create(client, keys.prescripteur)
    moves = [
        (keys.of_a, "positionnement"),
        (keys.of_a, "decision"),
        (keys.of_a, "entree"),
        (keys.of_a, "abandon"),
        (keys.prescripteur, "annulation"),
    ]
    random.Random(7).shuffle(moves := moves * 10)
    answers = await asyncio.gather(
        *(move(client, key, orientation["id"], step) for key, step in moves)
    )
    statuses = sorted({answer.status_code for answer in answers})
    assert set(statuses) <= {200, 409}, [a.text for a in answers if a.status_code not in {200, 409}]
    final = (await client.get(f"{BASE}/{orientation['id']}", headers=bearer(keys.ops))).json()
    history = final["historique"]
    succeeded = [answer.json() for answer in answers if answer.status_code == 200]
    assert len(history) == final["version"] == len(succeeded) + 1
    # Each success answered a distinct version, and the history is the successes in order.
    assert sorted(s["version"] for s in succeeded) == list(range(2, final["version"] + 1))
    by_version = {s["version"]: s for s in succeeded}
    assert [by_version[v]["statut"] for v in range(2, final["version"] + 1)] == [
        step["statut"] for step in history[1:]
    ]
    assert_consistent(history)
    assert final["statut"] not in NEXT  # 50 moves always reach an end
    changes = await changes_of(app, orientation["id"])
    assert [version for _, version, _ in changes] == list(range(1, final["version"] + 1))


async def test_20_creations_with_one_key_create_one(
    pg: tuple[Any, httpx.AsyncClient, Callers],
) -> None:
    app, client, keys = pg
    headers = {**bearer(keys.prescripteur), "Idempotency-Key": "une-seule"}
    answers = await asyncio.gather(
        *(client.post(BASE, json=creation(), headers=headers) for _ in range(20))
    )
    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    texts = sorted({a.text for a in answers})
    assert len(texts) == 1
    async with sessions_of(app)() as session:
        assert await session.scalar(select(func.count()).select_from(Orientation)) == 1


async def _writer(client: httpx.AsyncClient, keys: Callers, rounds: int) -> None:
    """Creations and moves (some refused, 409) on a growing set of orientations, two at a time."""
    rng = random.Random(11)
    created: list[str] = []
    steps = ["positionnement", "decision", "entree", "abandon"]
    for _ in range(rounds):
        while len(created) < 3 or rng.random() < 0.3:
            created.append((await create(client, keys.prescripteur))["id"])
        picked = rng.sample(created, 2)
        await asyncio.gather(*(move(client, keys.of_a, oid, rng.choice(steps)) for oid in picked))


async def test_a_client_following_the_feed_sees_every_change_exactly_once(
    pg: tuple[Any, httpx.AsyncClient, Callers],
) -> None:
    app, client, keys = pg
    seen: list[tuple[str, int]] = []
    cursor: str | None = None

    async def follow() -> bool:
        nonlocal cursor
        params: dict[str, str | int] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = await client.get(FEED, params=params, headers=bearer(keys.region))
        assert page.status_code == 200, page.text
        body = page.json()
        seen.extend((item["id"], item["version"]) for item in body["items"])
        cursor = body["next_cursor"]
        return bool(body["items"])

    writer = asyncio.create_task(_writer(client, keys, rounds=40))
    while not writer.done():
        await follow()
        await asyncio.sleep(0)
    await writer
    while_writing = len(seen)
    while await follow():
        pass
    stored = [(oid, version) for oid, version, _ in await changes_of(app)]
    assert len(stored) > 40
    assert while_writing > 0  # the client read while orientations changed
    assert seen == stored  # every change, once, in the order they were numbered


async def test_a_listing_paged_while_orientations_change_neither_skips_nor_repeats(
    pg: tuple[Any, httpx.AsyncClient, Callers],
) -> None:
    _app, client, keys = pg
    originals = [(await create(client, keys.prescripteur))["id"] for _ in range(23)]
    listed: list[str] = []
    cursor: str | None = None
    rng = random.Random(3)
    while True:
        params: dict[str, str | int] = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(BASE, params=params, headers=bearer(keys.of_a))).json()
        listed += [item["id"] for item in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
        # Between pages: change some already listed, some not yet, and create one.
        for oid in rng.sample(originals, 4):
            await move(client, keys.of_a, oid, rng.choice(["positionnement", "abandon"]))
        await create(client, keys.prescripteur)
    assert sorted(listed) == sorted(originals)
    assert listed == originals[::-1]  # newest change first, as of the listing's start
