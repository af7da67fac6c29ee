"""`POST /region/v1/dossiers` on SQLite and PostgreSQL: one result per item, in input order,
202 once durable; a bad item, even one the database refuses, never rejects the batch."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from agora_bridge.api.auth import KeyAuthenticator
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.validation import Rejection, parse_line
from agora_bridge.storage import ingest
from agora_bridge.storage.callers import Role
from agora_bridge.storage.models import Dossier
from tests.api.builders import (
    assert_problem,
    bearer,
    bridge,
    drop_database,
    json_array,
    key_for,
    sessions_of,
    settings,
)
from tests.api.conftest import migrate
from tests.builders import snapshot_dict
from tests.conftest import throwaway_pg_database

ROUTE = "/region/v1/dossiers"
JSON = {"Content-Type": "application/json"}
NDJSON = {"Content-Type": "application/x-ndjson"}
BEYOND_64_BITS = 2**63  # refused by both databases' BIGINT (and by validation, since issue 6)


@pytest.fixture
def database_refuses_pdl_4(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation now refuses whatever the database would; to show that a refusal still never
    takes the request down, PDL-4's version is pushed beyond 64 bits after validation."""

    def parse(line: str | bytes, *, today: date) -> Snapshot | Rejection:
        result = parse_line(line, today=today)
        if isinstance(result, Snapshot) and result.id_dossier == "PDL-4":
            return result.model_copy(update={"version": BEYOND_64_BITS})
        return result

    monkeypatch.setattr(ingest, "parse_line", parse)


def dossier(order: int, version: Any = 1, **changes: Any) -> dict[str, Any]:
    return snapshot_dict("VALIDE", id_dossier=f"PDL-{order}", version=version, **changes)


async def post(client: httpx.AsyncClient, key: str, body: bytes, headers: dict[str, str]) -> Any:
    response = await client.post(ROUTE, content=body, headers=headers | bearer(key))
    assert response.status_code == 202, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


async def stored_versions(app: FastAPI) -> dict[str, int]:
    async with sessions_of(app)() as session:
        rows = await session.execute(select(Dossier.id_dossier, Dossier.version))
        return {row.id_dossier: row.version for row in rows}


@pytest.mark.usefixtures("database_refuses_pdl_4")
async def test_one_result_per_item_in_input_order(migrated_url: str) -> None:
    async with bridge(settings(migrated_url)) as (app, client):
        key = await key_for(sessions_of(app), Role.REGION_SI)
        await post(client, key, json_array([dossier(2, version=5)]), JSON)
        body = [
            dossier(1),
            dossier(2, version=4),  # older than the stored 5
            dossier(3, **{"organisme.siret": "73282932000075"}),
            dossier(4),  # the database refuses it (database_refuses_pdl_4)
            dossier(5, **{"programme.categorie": "VAE"}),
        ]
        answer = await post(client, key, json_array(body), JSON)
        assert await stored_versions(app) == {"PDL-1": 1, "PDL-2": 5, "PDL-5": 1}
    assert (answer["recus"], answer["acceptes"], answer["ignores"], answer["rejetes"]) == (
        5,
        2,
        1,
        2,
    )
    results = answer["resultats"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["id_dossier"] for r in results] == [f"PDL-{n}" for n in range(1, 6)]
    assert [r["resultat"] for r in results] == [
        "ACCEPTE",
        "IGNORE_VERSION_ANCIENNE",
        "REJETE",
        "REJETE",
        "ACCEPTE",
    ]
    assert results[0]["classement"] == "ENVOYABLE"
    assert (results[4]["classement"], results[4]["motif"]) == ("EXCLU", "CATEGORIE_VAE")
    assert results[2]["erreurs"] == [{"champ": "organisme.siret", "code": "SIRET_INVALIDE"}]
    assert results[3]["erreurs"] == [{"champ": "ligne", "code": "REFUS_BASE"}]
    assert all(r["ligne"] is None for r in results)


async def test_json_lines_name_each_item_s_physical_line(migrated_sqlite: str) -> None:
    lines = [json.dumps(dossier(1)), "", "not json", "  ", json.dumps(dossier(2))]
    body = ("\ufeff" + "\r\n".join(lines) + "\n").encode()
    async with bridge(settings(migrated_sqlite)) as (app, client):
        key = await key_for(sessions_of(app), Role.REGION_SI)
        answer = await post(client, key, body, NDJSON)
        assert await stored_versions(app) == {"PDL-1": 1, "PDL-2": 1}
    results = answer["resultats"]
    assert [(r["index"], r["ligne"], r["resultat"]) for r in results] == [
        (0, 1, "ACCEPTE"),
        (1, 3, "REJETE"),
        (2, 5, "ACCEPTE"),
    ]
    assert results[1]["erreurs"] == [{"champ": "ligne", "code": "JSON_INVALIDE"}]


async def test_a_bad_item_in_an_array_is_rejected_alone(migrated_sqlite: str) -> None:
    # A number of 5,000 digits, a wrong type, a non-object: each its own rejection.
    body = (
        b"["
        + b",".join(
            [
                json.dumps(dossier(1)).encode(),
                json.dumps(dossier(2)).replace('"version": 1', '"version": ' + "9" * 5000).encode(),
                b'"a string"',
                json.dumps(dossier(3, version="un")).encode(),
                json.dumps(dossier(4)).encode(),
            ]
        )
        + b"]"
    )
    async with bridge(settings(migrated_sqlite)) as (app, client):
        key = await key_for(sessions_of(app), Role.REGION_SI)
        answer = await post(client, key, body, JSON)
        assert await stored_versions(app) == {"PDL-1": 1, "PDL-4": 1}
    assert [r["resultat"] for r in answer["resultats"]] == [
        "ACCEPTE",
        "REJETE",
        "REJETE",
        "REJETE",
        "ACCEPTE",
    ]


async def test_over_1000_items_is_413_and_nothing_is_stored(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        key = await key_for(sessions_of(app), Role.REGION_SI)
        body = json_array(dossier(n) for n in range(1001))
        response = await client.post(ROUTE, content=body, headers=JSON | bearer(key))
        assert_problem(response, 413, "TROP_DE_DOSSIERS")
        assert await stored_versions(app) == {}
        exactly = await post(client, key, json_array(dossier(n) for n in range(1000)), JSON)
    assert exactly["acceptes"] == 1000


async def test_a_body_that_is_not_an_array_or_not_json_is_refused_whole(
    migrated_sqlite: str,
) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        key = await key_for(sessions_of(app), Role.REGION_SI)
        for body in (b'{"id_dossier": "PDL-1"}', b"[{}", b"[{}] x", b"\xff[]", b"[" * 100_000):
            response = await client.post(ROUTE, content=body, headers=JSON | bearer(key))
            assert_problem(response, 400, "CORPS_ILLISIBLE")
        other = await client.post(
            ROUTE, content=b"a,b", headers={"Content-Type": "text/csv"} | bearer(key)
        )
        assert_problem(other, 415, "TYPE_NON_SUPPORTE")
        assert await stored_versions(app) == {}


async def test_an_ingest_wakes_the_delivery_engine_after_commit(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        key = await key_for(sessions_of(app), Role.REGION_SI)
        due = app.state.bridge.delivery_due
        assert not due.is_set()
        await post(client, key, json_array([dossier(1)]), JSON)
        assert due.is_set()


async def test_a_failing_database_is_503_and_nothing_is_acknowledged() -> None:
    async with throwaway_pg_database() as url:
        await migrate(url)
        async with bridge(settings(url)) as (app, client):
            # The cache's clock stands still: dropping the database under load took longer
            # than the cache's TTL, and the key check failed before the ingest could.
            state = app.state.bridge
            state.keys = KeyAuthenticator(sessions_of(app), ttl_s=1.0, clock=lambda: 0.0)
            key = await key_for(sessions_of(app), Role.REGION_SI)
            await post(client, key, b"[]", JSON)  # the key is now in this replica's cache
            await drop_database(state.engine, url)
            response = await client.post(
                ROUTE, content=json_array([dossier(1)]), headers=JSON | bearer(key)
            )
            # A key this replica has not seen cannot be checked either.
            unchecked = await client.post(
                ROUTE, content=b"[]", headers=JSON | bearer("agb_000000000000_x")
            )
    assert_problem(response, 503, "BASE_INDISPONIBLE")
    assert response.headers["retry-after"] == "5"
    assert "nothing was stored" in response.json()["detail"]
    assert_problem(unchecked, 503, "BASE_INDISPONIBLE")
