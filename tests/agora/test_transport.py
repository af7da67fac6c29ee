"""The client's default transport (aiohttp under httpx's interface) against raw loopback
servers: what leaves, what comes back, and which httpx error each failure becomes — the
engine reads a dossier back only after a failure that may have reached AGORA."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from agora_bridge.agora.client import AgoraClient
from agora_bridge.agora.transport import AiohttpTransport
from bench.floor import free_port
from tests.agora.test_client_tls import FixedToken
from tests.agora.wire_builders import ID_AGORA, agora_settings, creation

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[str]:
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await handler(reader, writer)
        writer.close()

    served = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = served.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        served.close()
        for writer in writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await served.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    return head, await reader.readexactly(length)


@asynccontextmanager
async def client(url: str, timeout_s: float = 5.0) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=url, transport=AiohttpTransport(), timeout=httpx.Timeout(timeout_s)
    ) as http:
        yield http


async def test_the_request_leaves_whole_and_the_answer_comes_back_decoded() -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        body = gzip.compress(b'{"ok": true}')
        writer.write(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
            b"Content-Encoding: gzip\r\nX-Request-Id: r-1\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    async with server(answer) as url, client(url) as http:
        response = await http.post(
            "/agora/v2/dossiers",
            content=b'{"a": 1}',
            headers={"Content-Type": "application/json", "Idempotency-Key": "k-1"},
        )
    assert (response.status_code, response.json()) == (201, {"ok": True})
    assert response.headers["X-Request-Id"] == "r-1"
    head, body = seen[0]
    assert body == b'{"a": 1}'
    lines = [line.lower() for line in head.split(b"\r\n")]
    assert lines[0] == b"post /agora/v2/dossiers http/1.1"
    assert b"idempotency-key: k-1" in lines
    assert b"content-type: application/json" in lines
    assert [line for line in lines if line.startswith(b"content-length:")] == [b"content-length: 8"]
    assert len([line for line in lines if line.startswith(b"host:")]) == 1


async def test_a_lot_sized_body_leaves_whole_with_its_length() -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    body = bytes(range(256)) * (3 * 4096)  # 3 MiB: above aiohttp's "large body" threshold
    async with server(answer) as url, client(url) as http:
        response = await http.post("/agora/v2/lots", content=body)
    assert response.status_code == 202
    head, received = seen[0]
    assert received == body
    assert f"content-length: {len(body)}".encode() in head.lower().split(b"\r\n")


async def test_no_server_is_a_connect_error_the_request_never_left() -> None:
    async with client(f"http://127.0.0.1:{free_port()}") as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/agora/v2/dossiers/AG1")


async def test_no_answer_in_time_is_a_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # until the client gives up and closes the connection

    async with server(silent) as url, client(url, timeout_s=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/agora/v2/dossiers/AG1/entree", content=b"{}")


async def test_a_peer_that_stops_reading_a_large_body_times_out_as_maybe_applied() -> None:
    """aiohttp has no write timeout: the exchange's bound stops a lot that cannot leave."""

    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)  # accepts, never reads: the socket buffers fill up

    async with server(deaf) as url, client(url, timeout_s=0.2) as http:
        started = asyncio.get_running_loop().time()
        with pytest.raises(httpx.ReadTimeout):  # ambiguous: the engine reads back first
            await http.post("/agora/v2/lots", content=b"x" * (16 * 1024 * 1024))
        assert asyncio.get_running_loop().time() - started < 5


async def test_a_connection_closed_before_the_answer_is_a_protocol_error() -> None:
    """The mock's lost answer: the call was applied, then the connection dropped."""

    async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with server(hangs_up) as url, client(url) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post("/agora/v2/dossiers/AG1/entree", content=b"{}")


class ThroughHttpx(httpx.AsyncBaseTransport):
    """The same aiohttp transport behind httpx's interface only: the client builds an
    `httpx.Request` for it, as for any injected transport."""

    def __init__(self) -> None:
        self.inner = AiohttpTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_the_clients_direct_exchange_sends_what_httpxs_path_sends() -> None:
    """The client calls its own transport without an `httpx.Request`: the same request head
    and body must leave as through httpx's models, and the same answer come back."""
    seen: list[tuple[bytes, bytes]] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        body = json.dumps({"id_agora": ID_AGORA, "statut": "VALIDE"}).encode()
        writer.write(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    answers = []
    async with server(answer) as url:
        settings = agora_settings(base_url=f"{url}/agora/v2")
        for transport in (None, ThroughHttpx()):
            async with AgoraClient(settings, auth=FixedToken(), transport=transport) as client:
                created = await client.creer(
                    creation=creation(), idempotency_key="k-1", request_id="r-1"
                )
                answers.append(created.id_agora)
    assert answers == [ID_AGORA, ID_AGORA]
    (direct_head, direct_body), (httpx_head, httpx_body) = seen
    assert direct_body == httpx_body
    assert sorted(direct_head.lower().split(b"\r\n")) == sorted(httpx_head.lower().split(b"\r\n"))
    assert b"idempotency-key: k-1" in direct_head.lower()
    assert b"authorization: bearer jeton-fixe" in direct_head.lower()
