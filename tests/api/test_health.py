"""`/health/live` and `/health/ready`: 503 problem+json naming the failing check."""

from __future__ import annotations

from mocks.server import running_mock
from tests.api.builders import assert_problem, bridge, drop_database, settings
from tests.api.conftest import migrate
from tests.conftest import throwaway_pg_database


async def test_live_answers_without_a_key(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (_, client):
        response = await client.get("/health/live")
    assert (response.status_code, response.json()) == (200, {"statut": "VIVANT"})


async def test_ready_when_the_database_is_at_head_and_agora_gives_a_token(
    migrated_url: str,
) -> None:
    async with (
        running_mock() as mock,
        bridge(settings(migrated_url, agora_url=f"{mock.url}/agora/v2")) as (_, client),
    ):
        response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "statut": "PRET",
        "verifications": {"database": "OK", "migrations": "OK", "agora_token": "OK"},
    }


async def test_a_refused_agora_token_is_named(migrated_sqlite: str) -> None:
    async with (
        running_mock() as mock,
        bridge(
            settings(migrated_sqlite, agora_url=f"{mock.url}/agora/v2", agora_secret="wrong")
        ) as (_, client),
    ):
        response = await client.get("/health/ready")
    body = assert_problem(response, 503, "NON_PRET")
    assert body["detail"] == "not ready: agora_token failed"
    assert body["verifications"] == {"database": "OK", "migrations": "OK", "agora_token": "ECHEC"}


async def test_an_unreachable_agora_is_named(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (_, client):  # nothing listens there
        response = await client.get("/health/ready")
    assert assert_problem(response, 503)["verifications"]["agora_token"] == "ECHEC"


async def test_a_lost_database_is_named() -> None:
    async with throwaway_pg_database() as url:
        await migrate(url)
        async with (
            running_mock() as mock,
            bridge(settings(url, agora_url=f"{mock.url}/agora/v2")) as (app, client),
        ):
            await drop_database(app.state.bridge.engine, url)
            response = await client.get("/health/ready")
    body = assert_problem(response, 503, "NON_PRET")
    assert body["verifications"] == {
        "database": "ECHEC",
        "migrations": "ECHEC",
        "agora_token": "OK",
    }
    assert "database, migrations" in body["detail"]
