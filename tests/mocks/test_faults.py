"""Injected faults: each kind, what it applies or not, and the seed's reproducibility.

Connection drops are proved over real loopback HTTP (uvicorn), where the client must see a
transport error and never a 500.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mocks.gateway import ConnectionDropped
from mocks.server import RunningMock, running_mock
from tests.mocks.builders import ENTREE, creation
from tests.mocks.harness import TOKEN_FORM, Agora, agora_mock, check_contract

LOST_REQUEST_ID = "9b1f3c1e-0000-4000-8000-00000000105e"


async def dossiers(agora: Agora) -> int:
    count: int = (await agora.stats())["dossiers"]
    return count


async def test_error_rate_answers_a_5xx_and_applies_nothing(agora: Agora) -> None:
    await agora.faults({"seed": 1, "error_rate": 1})
    statuses = set()
    for _ in range(12):
        response = await agora.call("POST", "/dossiers", creation("R-1"), key="k")
        assert response.json()["code"] == "INDISPONIBLE"
        statuses.add(response.status_code)
    assert statuses == {500, 502, 503}
    assert await dossiers(agora) == 0
    await agora.faults({})
    # Not applied, so the key was never stored: this is a first creation, not a replay.
    assert (await agora.call("POST", "/dossiers", creation("R-1"), key="k")).status_code == 201
    assert (await agora.stats())["rejeux_idempotents"] == 0


async def test_timeout_rate_waits_then_answers_503_without_applying(agora: Agora) -> None:
    await agora.faults({"timeout_rate": 1, "timeout_s": 0.1})
    started = time.monotonic()
    response = await agora.call("POST", "/dossiers", creation("R-1"), key="k")
    assert time.monotonic() - started >= 0.1
    assert (response.status_code, response.json()["code"]) == (503, "INDISPONIBLE")
    assert await dossiers(agora) == 0


async def test_rate_limit_rate_answers_429_with_the_configured_retry_after(agora: Agora) -> None:
    await agora.faults({"rate_limit_rate": 1, "retry_after_s": 7})
    response = await agora.call("POST", "/dossiers", creation("R-1"), key="k")
    assert (response.status_code, response.json()["code"]) == (429, "QUOTA_DEPASSE")
    assert response.headers["retry-after"] == "7"
    assert await dossiers(agora) == 0


async def test_latency_delays_each_answer(agora: Agora) -> None:
    await agora.faults({"seed": 2, "latency_ms": [80, 100]})
    started = time.monotonic()
    response = await agora.call("POST", "/dossiers", creation("R-1"), key="k")
    assert 0.08 <= time.monotonic() - started < 1
    assert response.status_code == 201


async def test_an_outage_answers_503_inside_its_window_only(agora: Agora) -> None:
    await agora.faults({"outage": {"from_s": 0, "to_s": 0.3}})
    response = await agora.call("POST", "/dossiers", creation("R-1"), key="k")
    assert (response.status_code, response.json()["code"]) == (503, "INDISPONIBLE")
    assert response.headers["retry-after"] == "1"
    await asyncio.sleep(0.3)
    assert (await agora.call("POST", "/dossiers", creation("R-1"), key="k")).status_code == 201


async def test_an_outage_starts_when_the_window_opens(agora: Agora) -> None:
    await agora.faults({"outage": {"from_s": 0.2, "to_s": 10}})
    assert (await agora.call("POST", "/dossiers", creation("R-1"), key="k")).status_code == 201
    await asyncio.sleep(0.2)
    assert (await agora.call("GET", "/dossiers/AG000000000001")).status_code == 503


async def test_faults_apply_to_the_token_and_never_to_the_control_routes(agora: Agora) -> None:
    await agora.faults({"error_rate": 1})
    response = await agora.client.post("/agora/v2/oauth/token", data=TOKEN_FORM)
    assert response.status_code >= 500
    assert (await agora.client.get("/__mock__/stats")).status_code == 200


async def test_in_process_a_dropped_connection_raises(agora: Agora) -> None:
    await agora.faults({"reset_rate": 1})
    with pytest.raises(ConnectionDropped):
        await agora.call("POST", "/dossiers", creation("R-1"), key="k")
    assert await dossiers(agora) == 0


async def fate_sequence(config: dict[str, Any]) -> list[int]:
    """The statuses a fixed sequence of 40 requests meets on a fresh mock."""
    async with agora_mock() as agora:
        await agora.faults(config)
        statuses = []
        for n in range(40):
            response = await agora.call("POST", "/dossiers", creation(f"R-{n}"), key=f"k{n}")
            statuses.append(response.status_code)
        return statuses


async def test_the_same_seed_gives_the_same_faults() -> None:
    config = {
        "seed": 42,
        "error_rate": 0.2,
        "timeout_rate": 0.1,
        "timeout_s": 0,
        "rate_limit_rate": 0.2,
    }
    first = await fate_sequence(config)
    assert first == await fate_sequence(config)
    assert set(first) >= {201, 429, 503}
    assert first != await fate_sequence({**config, "seed": 43})


# --- over real loopback HTTP -------------------------------------------------------------------


@pytest.fixture
async def served() -> AsyncIterator[tuple[RunningMock, httpx.AsyncClient]]:
    async with (
        running_mock(lot_delay_s=0.05) as mock,
        httpx.AsyncClient(base_url=mock.url, event_hooks={"response": [check_contract]}) as client,
    ):
        token = (await client.post("/agora/v2/oauth/token", data=TOKEN_FORM)).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield mock, client


async def test_reset_rate_closes_the_connection_and_applies_nothing(
    served: tuple[RunningMock, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    _, client = served
    await client.put("/__mock__/faults", json={"seed": 1, "reset_rate": 1})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await client.post(
            "/agora/v2/dossiers", json=creation("R-1"), headers={"Idempotency-Key": "k"}
        )
    await client.put("/__mock__/faults", json={})
    stats = (await client.get("/__mock__/stats")).json()
    assert stats["dossiers"] == 0
    assert stats["requetes"]["POST /agora/v2/dossiers coupee"] == 1
    # uvicorn saw a closed connection, not an app that forgot to answer (it would log it).
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


async def test_a_lost_response_applies_the_operation_then_drops_the_connection(
    served: tuple[RunningMock, httpx.AsyncClient],
) -> None:
    mock, client = served
    await client.put("/__mock__/faults", json={"seed": 1, "lost_response_rate": 1})
    headers = {"Idempotency-Key": "k", "X-Request-Id": LOST_REQUEST_ID}
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await client.post("/agora/v2/dossiers", json=creation("R-1"), headers=headers)
    await client.put("/__mock__/faults", json={})
    listed = (await client.get("/__mock__/dossiers")).text.splitlines()
    assert len(listed) == 1
    assert f'"request_id":"{LOST_REQUEST_ID}"' in listed[0]
    stats = (await client.get("/__mock__/stats")).json()
    assert stats["requetes"]["POST /agora/v2/dossiers perdue"] == 1
    # The retry with the same key replays the creation the client never saw.
    retry = await client.post("/agora/v2/dossiers", json=creation("R-1"), headers=headers)
    assert retry.status_code == 201
    assert mock.state.stats.rejeux_idempotents == 1


async def test_a_lost_transition_is_applied_and_its_retry_is_409(
    served: tuple[RunningMock, httpx.AsyncClient],
) -> None:
    _, client = served
    created = await client.post(
        "/agora/v2/dossiers", json=creation(), headers={"Idempotency-Key": "k"}
    )
    entree = f"/agora/v2/dossiers/{created.json()['id_agora']}/entree"
    await client.put("/__mock__/faults", json={"lost_response_rate": 1})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await client.post(entree, json=ENTREE)
    await client.put("/__mock__/faults", json={})
    retry = await client.post(entree, json=ENTREE)
    assert retry.status_code == 409
    assert retry.json()["dossier"]["statut"] == "ENTRE"


async def test_error_faults_over_http_are_answers_not_drops(
    served: tuple[RunningMock, httpx.AsyncClient],
) -> None:
    _, client = served
    await client.put("/__mock__/faults", json={"seed": 5, "error_rate": 1})
    response = await client.post("/agora/v2/dossiers/recherche", json={"reference_financeur": "R"})
    assert response.status_code in {500, 502, 503}
    assert response.headers["content-type"] == "application/problem+json"


async def test_drops_among_concurrent_keep_alive_calls_leave_the_others_whole(
    served: tuple[RunningMock, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    # Several pooled connections, some dropped under the others' feet: each call is answered
    # in full or dropped, and every drop is the one the mock counted.
    mock, client = served
    faults = {"seed": 7, "reset_rate": 0.2, "lost_response_rate": 0.2}
    await client.put("/__mock__/faults", json=faults)

    async def create(n: int) -> int | None:
        headers = {"Idempotency-Key": f"k{n}"}
        try:
            response = await client.post(
                "/agora/v2/dossiers", json=creation(f"R-{n}"), headers=headers
            )
        except (httpx.RemoteProtocolError, httpx.ReadError):
            return None
        return response.status_code

    statuses = await asyncio.gather(*(create(n) for n in range(60)))
    await client.put("/__mock__/faults", json={})
    requetes = (await client.get("/__mock__/stats")).json()["requetes"]
    answered = requetes.get("POST /agora/v2/dossiers 201", 0)
    lost = requetes.get("POST /agora/v2/dossiers perdue", 0)
    cut = requetes.get("POST /agora/v2/dossiers coupee", 0)
    assert statuses.count(201) == answered
    assert statuses.count(None) == lost + cut
    assert answered + lost + cut == 60
    assert lost > 0
    assert cut > 0
    assert len(mock.state.store) == answered + lost  # a lost answer's creation was applied
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []
