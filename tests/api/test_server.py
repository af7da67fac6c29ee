"""The app under `serve`'s uvicorn server, over real HTTP: it answers with request ids and
caps a chunked body (no Content-Length) as the in-process tests say."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx

from agora_bridge.api import create_app
from agora_bridge.cli.serve import server_for
from agora_bridge.storage.callers import Role
from tests.api.builders import bearer, key_for, sessions_of, settings


async def _chunks() -> AsyncIterator[bytes]:
    for _ in range(4):
        yield b" " * 1024


async def test_the_server_answers_and_caps_a_chunked_body(migrated_sqlite: str) -> None:
    app = create_app(settings(migrated_sqlite, ingest_max_bytes=2048))
    server = server_for(app, host="127.0.0.1", port=0)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            live = await client.get("/health/live")
            key = await key_for(sessions_of(app), Role.REGION_SI)
            headers = {"Content-Type": "application/json"} | bearer(key)
            capped = await client.post("/region/v1/dossiers", content=_chunks(), headers=headers)
    finally:
        server.should_exit = True
        await task
    assert live.status_code == 200
    assert "x-request-id" in live.headers
    assert capped.status_code == 413
    assert "content-length" not in capped.request.headers
    assert capped.headers["content-type"] == "application/problem+json"
