"""Request bodies are capped per route (ingest 16 MiB, others 1 MiB by default), whether the
size is declared (Content-Length) or not (chunked)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agora_bridge.settings import Settings
from agora_bridge.storage.callers import Role
from tests.api.builders import assert_problem, bearer, bridge, json_array, key_for, sessions_of
from tests.api.builders import settings as api_settings
from tests.builders import snapshot_dict

INGEST = "/region/v1/dossiers"
JSON = {"Content-Type": "application/json"}


def settings(url: str) -> Settings:
    return api_settings(url, ingest_max_bytes=8192, max_bytes=1024)


async def chunks(total: int, size: int = 512) -> AsyncIterator[bytes]:
    """A body of `total` bytes sent without Content-Length."""
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


async def test_a_declared_size_over_the_cap_is_413_before_anything_is_read(
    migrated_sqlite: str,
) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        key = await key_for(sessions_of(app), Role.REGION_SI)
        too_big = await client.post(INGEST, content=b" " * 8193, headers=JSON | bearer(key))
        body = assert_problem(too_big, 413, "CORPS_TROP_VOLUMINEUX")
        assert body["limit"] == 8192
        # Any other route has the smaller default cap, even one that takes no body.
        other = await client.post("/health/live", content=b" " * 1025)
        assert_problem(other, 413, "CORPS_TROP_VOLUMINEUX")


async def test_a_chunked_body_is_cut_off_at_the_cap(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        key = await key_for(sessions_of(app), Role.REGION_SI)
        response = await client.post(INGEST, content=chunks(9000), headers=JSON | bearer(key))
        assert "content-length" not in response.request.headers
        assert_problem(response, 413, "CORPS_TROP_VOLUMINEUX")


async def test_the_ingest_route_takes_more_than_the_default_cap(migrated_sqlite: str) -> None:
    body = json_array([snapshot_dict("VALIDE", id_dossier="PDL-1")])
    padded = body + b" " * (4096 - len(body))  # over the 1 KiB default, under the 8 KiB cap
    async with bridge(settings(migrated_sqlite)) as (app, client):
        key = await key_for(sessions_of(app), Role.REGION_SI)
        response = await client.post(INGEST, content=padded, headers=JSON | bearer(key))
    assert response.status_code == 202, response.text
    assert response.json()["acceptes"] == 1
