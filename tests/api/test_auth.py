"""Callers and keys on the protected routes: 401 without a valid key, 403 for another role."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from agora_bridge.api.auth import KeyAuthenticator
from agora_bridge.storage.callers import (
    CallerError,
    NewOrganisation,
    Role,
    revoke_key,
    secret_hash,
    split_key,
)
from agora_bridge.storage.models import CleApi
from tests.api.builders import (
    NOW,
    assert_problem,
    bearer,
    bridge,
    json_array,
    key_for,
    sessions_of,
    settings,
)

# Every protected route and the roles it admits (the health routes are open).
PROTECTED = {("POST", "/region/v1/dossiers"): {Role.REGION_SI}}
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(("method", "path"), list(PROTECTED))
async def test_every_other_role_is_refused_403(
    migrated_sqlite: str, method: str, path: str
) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        for role in set(Role) - PROTECTED[(method, path)]:
            key = await key_for(sessions_of(app), role)
            response = await client.request(method, path, content=b"[]", headers=JSON | bearer(key))
            assert_problem(response, 403, "ROLE_NON_AUTORISE")


@pytest.mark.parametrize(("method", "path"), list(PROTECTED))
async def test_no_key_a_bad_key_or_a_revoked_key_is_refused_401(
    migrated_url: str, method: str, path: str
) -> None:
    async with bridge(settings(migrated_url)) as (app, client):
        (role,) = PROTECTED[(method, path)]
        key = await key_for(sessions_of(app), role)
        key_id, secret = split_key(key) or ("", "")
        async with sessions_of(app)() as session, session.begin():
            await revoke_key(session, key_id, now=NOW)
        for headers in (
            {},
            {"Authorization": f"Basic {key}"},
            bearer("agb_nothing"),
            bearer(f"agb_{key_id}_{secret[:-1]}x"),  # right id, wrong secret
            bearer(key),  # revoked
        ):
            response = await client.request(method, path, content=b"[]", headers=JSON | headers)
            assert_problem(response, 401, "CLE_API_INVALIDE")
            assert response.headers["www-authenticate"] == "Bearer"


async def test_the_right_role_passes(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        key = await key_for(sessions_of(app), Role.REGION_SI)
        response = await client.post(
            "/region/v1/dossiers", content=json_array([]), headers=JSON | bearer(key)
        )
    assert response.status_code == 202, response.text


async def test_only_the_secret_s_hash_is_stored(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, _):
        key = await key_for(sessions_of(app), Role.OPS)
        async with sessions_of(app)() as session:
            (row,) = (await session.scalars(select(CleApi))).all()
    key_id, secret = split_key(key) or ("", "")
    assert (row.id, row.secret_hash) == (key_id, secret_hash(secret))
    assert len(secret) >= 43  # 256 random bits
    assert secret not in row.secret_hash


async def test_a_revocation_bites_on_every_replica_within_5_seconds(migrated_url: str) -> None:
    # Two app instances on one database, each with its own key cache (the default TTL).
    async with (
        bridge(settings(migrated_url)) as (app, first),
        bridge(settings(migrated_url)) as (_, second),
    ):
        key = await key_for(sessions_of(app), Role.REGION_SI)
        replicas = (first, second)

        async def status(client_index: int) -> int:
            client = replicas[client_index]
            response = await client.post(
                "/region/v1/dossiers", content=b"[]", headers=JSON | bearer(key)
            )
            return response.status_code

        assert [await status(0), await status(1)] == [202, 202]  # both have it cached now
        async with sessions_of(app)() as session, session.begin():
            await revoke_key(session, key, now=NOW)
        revoked_at = time.monotonic()
        while {await status(0), await status(1)} != {401}:
            assert time.monotonic() - revoked_at < 5
            await asyncio.sleep(0.1)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_cached_key_is_read_again_after_its_ttl(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, _):
        sessions = sessions_of(app)
        key = await key_for(sessions, Role.OPS)
        clock = _Clock()
        keys = KeyAuthenticator(sessions, ttl_s=2, clock=clock)
        assert await keys.caller(key) is not None
        async with sessions() as session, session.begin():
            await revoke_key(session, key, now=NOW)
        clock.now = 1.99
        assert await keys.caller(key) is not None  # trusted for the TTL
        clock.now = 2.0
        assert await keys.caller(key) is None


@given(st.text(max_size=80))
def test_a_malformed_key_never_parses_as_one(text: str) -> None:
    parts = split_key(text)
    if parts is not None:
        key_id, secret = parts
        assert text == f"agb_{key_id}_{secret}"
        assert len(key_id) == 12
        assert secret


@pytest.mark.parametrize(
    "organisation",
    [
        NewOrganisation("OF", Role.ORGANISME),  # no SIRET
        NewOrganisation("OF", Role.ORGANISME, siret="73282932000075"),  # bad checksum
        NewOrganisation("SI", Role.REGION_SI, siret="73282932000074"),  # SIRET on another role
        NewOrganisation("ML", Role.PRESCRIPTEUR, structure_code="ML-44"),  # no type
        NewOrganisation(" ", Role.OPS),
    ],
)
def test_each_role_carries_exactly_its_identifiers(organisation: NewOrganisation) -> None:
    with pytest.raises(CallerError):
        organisation.check()
