"""The floor benchmark: what it counts is what the mock served, and errors are never counted."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
from sqlalchemy import text

from agora_bridge.storage import db
from bench.floor import (
    CALLS_PER_DOSSIER,
    PostgresCpu,
    measure,
    mock_process,
)
from mocks.server import running_mock
from tests.conftest import PG_URL


async def test_every_call_counted_is_a_call_the_mock_answered_as_expected() -> None:
    async with running_mock() as mock:
        floor = await measure(mock.url, 0.3, 3, mock_pid=os.getpid())
        requetes = mock.state.stats.requetes
    assert floor.calls >= CALLS_PER_DOSSIER
    assert sum(requetes.values()) == floor.calls + 1  # and the token
    assert set(requetes) == {
        "POST /agora/v2/oauth/token 200",
        "POST /agora/v2/dossiers/recherche 200",
        "POST /agora/v2/dossiers 201",
        "POST /agora/v2/dossiers/{id_agora}/entree 200",
        "POST /agora/v2/dossiers/{id_agora}/sortie 200",
        "POST /agora/v2/dossiers/{id_agora}/solde 200",
        "GET /agora/v2/dossiers/{id_agora} 200",
    }
    assert {dossier.code_financeur for dossier in mock.state.store} == {"FLOOR"}
    assert floor.mock_cpu_ms_per_call is not None
    assert floor.mock_cpu_ms_per_call > 0
    assert f"{floor.calls} calls" in floor.describe()


async def test_an_error_answer_stops_the_measure() -> None:
    async with running_mock() as mock:
        async with httpx.AsyncClient(base_url=mock.url) as client:
            # The token, and the first calls, before the outage (0.5 s: on a loaded machine the
            # token alone took over 0.1 s, and the 503 then came on it, not on a dossier call).
            await client.put("/__mock__/faults", json={"outage": {"from_s": 0.5, "to_s": 60}})
        with pytest.raises(RuntimeError, match=r"/agora/v2/dossiers\S*: 503"):
            await measure(mock.url, 1, 1)


async def test_the_mock_process_serves_and_stops() -> None:
    async with mock_process() as mock, httpx.AsyncClient(base_url=mock.url) as client:
        assert (await client.get("/__mock__/stats")).status_code == 200
    with pytest.raises(ProcessLookupError):
        os.kill(mock.pid, 0)


async def test_postgres_cpu_over_a_window_keeps_backends_that_ended() -> None:
    """A command's own connections close when it exits: their CPU still counts."""
    server = PostgresCpu()
    engine = db.make_engine(PG_URL)
    async with engine.connect() as connection:
        for _ in range(3):
            await connection.execute(text("SELECT count(*) FROM generate_series(1, 2000000)"))
    await engine.dispose()  # the backend ends
    await asyncio.sleep(0.3)
    assert server.stop() > 0.05
